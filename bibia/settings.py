"""One settings object, built at the entry point from the environment and passed down.

Nothing in bibia reads the environment anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from schemas.errors import ConfigError

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
    decisions_path: Path = Path("curation/decisions.yaml")
    tally_form_url: str | None = None  # the form's public link (correction links)
    curator: str | None = None  # who takes curator decisions (default: the system user)
    lock_timeout_seconds: float = 0.0
    batch_size: int = 2_000  # submissions derived at once (four pages)
    prefect_api_url: str | None = None  # runs are tracked by this Prefect server when set
    failpoint: str | None = None  # a step that must fail, to rehearse failures (tests, drills)
    enrichment_enabled: bool = True
    recherche_entreprises_url: str = "https://recherche-entreprises.api.gouv.fr"
    geo_api_url: str = "https://geo.api.gouv.fr"
    ban_api_url: str = "https://api-adresse.data.gouv.fr"
    enrichment_requests_per_second: float = 5.0
    enrichment_timeout_seconds: float = 10.0
    enrichment_backoff_seconds: float = 0.5
    progress: bool | None = None  # None: only when stderr is a terminal
    # the site's map background: a tile URL template ({s}, {z}, {x}, {y}, {r}); empty: none
    site_tiles: str = "https://{s}.basemaps.cartocdn.com/rastertiles/voyager/{z}/{x}/{y}{r}.png"
    site_attribution: str = "© OpenStreetMap contributors © CARTO"

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

        def switch(name: str, default: bool) -> bool:
            raw = (env.get(name) or "").strip().lower()
            if not raw:
                return default
            if raw in {"1", "on", "true", "yes"}:
                return True
            if raw in {"0", "off", "false", "no"}:
                return False
            raise ConfigError(f"{name} must be on or off, got {raw!r}")

        def url(name: str, default: str) -> str:
            return (env.get(name) or default).rstrip("/")

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
            decisions_path=Path(env.get("BIBIA_DECISIONS") or cls.decisions_path),
            tally_form_url=(env.get("TALLY_FORM_URL") or "").rstrip("/") or None,
            curator=env.get("BIBIA_CURATOR") or None,
            lock_timeout_seconds=number("BIBIA_LOCK_TIMEOUT_SECONDS", 0.0),
            batch_size=max(1, int(number("BIBIA_BATCH_SIZE", 2_000))),
            prefect_api_url=env.get("PREFECT_API_URL") or None,
            failpoint=env.get("BIBIA_FAILPOINT") or None,
            enrichment_enabled=switch("BIBIA_ENRICHMENT", True),
            recherche_entreprises_url=url(
                "RECHERCHE_ENTREPRISES_URL", cls.recherche_entreprises_url
            ),
            geo_api_url=url("GEO_API_URL", cls.geo_api_url),
            ban_api_url=url("BAN_API_URL", cls.ban_api_url),
            enrichment_requests_per_second=number("ENRICHMENT_REQUESTS_PER_SECOND", 5.0),
            site_tiles=env.get("BIBIA_SITE_TILES", cls.site_tiles).strip(),
            site_attribution=env.get("BIBIA_SITE_ATTRIBUTION", cls.site_attribution).strip(),
        )

    def form_url(self, form_id: str) -> str:
        """The public link of the form (what contributors open), for correction links."""
        return self.tally_form_url or f"https://tally.so/r/{form_id}"

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
