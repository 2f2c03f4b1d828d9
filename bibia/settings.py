"""One settings object, built at the entry point from the environment and passed down.

Nothing in bibia reads the environment anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from bibia.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_TAXONOMY = PACKAGE_ROOT.parent / "schemas" / "taxonomy.yaml"
DEFAULT_MAPPING = PACKAGE_ROOT.parent / "schemas" / "mapping.yaml"
TALLY_VERSION = "2025-02-01"


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know about its surroundings."""

    tally_api_key: str | None = field(default=None, repr=False)
    tally_form_id: str | None = None
    tally_api_url: str = "https://api.tally.so"
    tally_max_requests_per_minute: float = 90.0
    tally_timeout_seconds: float = 30.0
    tally_max_retries: int = 6
    tally_backoff_seconds: float = 1.0  # first retry delay without Retry-After, then doubled
    db_path: Path = Path("warehouse/bibia.duckdb")
    export_dir: Path = Path("exports")
    taxonomy_path: Path = DEFAULT_TAXONOMY
    mapping_path: Path = DEFAULT_MAPPING
    lock_timeout_seconds: float = 0.0
    prefect_api_url: str | None = None  # runs are tracked by this Prefect server when set
    failpoint: str | None = None  # a step that must fail, to rehearse failures (tests, drills)
    progress: bool | None = None  # None: only when stderr is a terminal

    def __repr__(self) -> str:  # the key never appears, even in a repr
        shown = {k: v for k, v in self.__dict__.items() if k != "tally_api_key"}
        key = "set" if self.tally_api_key else "unset"
        return f"Settings(tally_api_key=<{key}>, {shown})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {raw!r}") from None
            if value < 0:
                raise ConfigError(f"{name} must be positive, got {raw!r}")
            return value

        return cls(
            tally_api_key=env.get("TALLY_API_KEY") or None,
            tally_form_id=env.get("TALLY_FORM_ID") or None,
            tally_api_url=(env.get("TALLY_API_URL") or cls.tally_api_url).rstrip("/"),
            tally_max_requests_per_minute=number("TALLY_MAX_REQUESTS_PER_MINUTE", 90.0),
            tally_timeout_seconds=number("TALLY_TIMEOUT_SECONDS", 30.0),
            db_path=Path(env.get("BIBIA_DB") or cls.db_path),
            export_dir=Path(env.get("BIBIA_EXPORT_DIR") or cls.export_dir),
            taxonomy_path=Path(env.get("BIBIA_TAXONOMY") or DEFAULT_TAXONOMY),
            mapping_path=Path(env.get("BIBIA_MAPPING") or DEFAULT_MAPPING),
            lock_timeout_seconds=number("BIBIA_LOCK_TIMEOUT_SECONDS", 0.0),
            prefect_api_url=env.get("PREFECT_API_URL") or None,
            failpoint=env.get("BIBIA_FAILPOINT") or None,
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def require_tally(self) -> None:
        missing = [
            name
            for name, value in (
                ("TALLY_API_KEY", self.tally_api_key),
                ("TALLY_FORM_ID", self.tally_form_id),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} must be set for `bibia sync` "
                "(or try `bibia sync --demo`, which needs no key)"
            )
