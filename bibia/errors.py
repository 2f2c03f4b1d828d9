"""Expected failures: each carries one readable line for the operator, no traceback."""


class BibiaError(Exception):
    """A run failed for a reason the operator can act on (exit 1)."""

    exit_code = 1


class ConfigError(BibiaError):
    """Missing or invalid configuration (exit 2)."""

    exit_code = 2


class TallyError(BibiaError):
    """Tally answered something the pipeline cannot use."""


class MappingError(BibiaError):
    """The form no longer carries a question the mapping needs."""


class RunLockedError(BibiaError):
    """Another run holds the warehouse."""
