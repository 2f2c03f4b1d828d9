"""Expected failures: each carries one readable line for the operator, no traceback."""


class BibiaError(Exception):
    """A run failed for a reason the operator can act on (exit 1)."""

    exit_code = 1


class ConfigError(BibiaError):
    """Missing or invalid configuration (exit 2)."""

    exit_code = 2


class TallyError(BibiaError):
    """Tally answered something the pipeline cannot use. `transient`: worth another try later
    (the service kept failing), as opposed to a wrong key, form or answer shape."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class MappingError(BibiaError):
    """The form no longer carries a question the mapping needs."""


class RunLockedError(BibiaError):
    """Another run holds the warehouse."""


class Interrupted(BibiaError):
    """The run was stopped by a signal (SIGTERM, Ctrl-C): rolled back, recorded as such."""

    exit_code = 130


class Unlandable(ValueError):
    """Something received (an item of Tally's list, a webhook event) that cannot be landed as
    it is: set aside with this reason, in French, never a failed run."""
