"""One settings object, built at the entry point from the environment and passed down.

Nothing in bibia reads the environment anywhere else.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from schemas.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_TAXONOMY = PACKAGE_ROOT.parent / "schemas" / "taxonomy.yaml"
DEFAULT_MAPPING = PACKAGE_ROOT.parent / "schemas" / "mapping.yaml"
TALLY_VERSION = "2025-02-01"
WEB_ADDRESS = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[^\s?#]*)?$")
FORM_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
# the steps a run goes through, by name: what BIBIA_FAILPOINT may name
FAILPOINTS = (
    "fetch_form",
    "fetch_questions",
    "fetch_page",
    "land",
    "derive",
    "enrich",
    "load",
    "export",
    "site",
    "publish",
)


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
    batch_size: int = 1_000  # submissions derived at once (two pages): the worker's memory
    run_budget_seconds: float = 7_200.0  # a run that takes longer fails (and changes nothing)
    # a full refresh withdraws at most this share of the register without --allow-withdrawals
    max_withdrawal_share: float = 0.05
    allow_withdrawals: bool = False  # this run may withdraw past that share (`--allow-withdrawals`)
    prefect_api_url: str | None = None  # runs are tracked by this Prefect server when set
    # a step that must fail (`load`), or where the process kills itself (`load:kill`), to
    # rehearse failures and crashes (tests, drills)
    failpoint: str | None = None
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
    # `bibia webhook`: Tally's signed events, received and spooled for the next run
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8787
    webhook_path: str = "/tally/webhook"
    webhook_max_bytes: int = 1_048_576
    webhook_spool: Path | None = None  # default: beside the warehouse
    webhook_debounce_seconds: float = 2.0  # a burst of events, one run
    webhook_keep_days: float = 30.0  # landed events are kept this long in the spool, then removed
    webhook_request_seconds: float = 10.0  # a whole request arrives within this, or is cut
    webhook_max_connections: int = 32  # served at once; one more is answered 503 at once

    def __repr__(self) -> str:  # the key and the secret never appear, even in a repr
        secret = {"tally_api_key", "webhook_secret"}
        shown = {k: v for k, v in self.__dict__.items() if k not in secret}
        key = "set" if self.tally_api_key else "unset"
        return f"Settings(tally_api_key=<{key}>, webhook_secret=<...>, {shown})"

    @property
    def spool_folder(self) -> Path:
        """Where the webhook's events wait for a run (BIBIA_WEBHOOK_SPOOL)."""
        return self.webhook_spool or self.db_path.parent / "webhook-spool"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of this environment, each checked: a bad value is one line naming the
        variable and what it accepts (exit 2), before anything is done."""
        env = os.environ if env is None else env

        def number(name: str, default: float, low: float, high: float, zero: bool = False) -> float:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not (value == 0 and zero) and not (math.isfinite(value) and low <= value <= high):
                accepted = f"{'0 (off) or ' if zero else ''}a number from {low:g} to {high:g}"
                raise ConfigError(f"{name} takes {accepted}, got {raw!r}")
            return value

        def whole(name: str, default: int, low: int, high: int) -> int:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            if not raw.isdigit() or not low <= int(raw) <= high:
                raise ConfigError(f"{name} takes a whole number from {low} to {high}, got {raw!r}")
            return int(raw)

        def switch(name: str, default: bool) -> bool:
            raw = (env.get(name) or "").strip().lower()
            if not raw:
                return default
            if raw in {"1", "on", "true", "yes"}:
                return True
            if raw in {"0", "off", "false", "no"}:
                return False
            raise ConfigError(f"{name} takes on or off, got {raw!r}")

        def url(name: str, default: str | None) -> str | None:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            if not WEB_ADDRESS.match(raw):
                raise ConfigError(
                    f"{name} takes an http:// or https:// address such as "
                    f"https://example.org/path, got {raw!r}"
                )
            return raw.rstrip("/")

        def web(name: str, default: str) -> str:
            return url(name, default) or default

        form_id = (env.get("TALLY_FORM_ID") or "").strip() or None
        if form_id is not None and not FORM_ID.match(form_id):
            raise ConfigError(
                f"TALLY_FORM_ID takes a Tally form id (letters and digits, as in "
                f"tally.so/r/mexJoq), got {form_id!r}"
            )
        failpoint = (env.get("BIBIA_FAILPOINT") or "").strip() or None
        if failpoint is not None and failpoint.removesuffix(":kill") not in FAILPOINTS:
            raise ConfigError(
                f"BIBIA_FAILPOINT takes one of {', '.join(FAILPOINTS)} (a failure there), or "
                f"one of them followed by :kill (SIGKILL there), got {failpoint!r}"
            )
        webhook_path = (env.get("BIBIA_WEBHOOK_PATH") or cls.webhook_path).strip()
        if not re.match(r"^/[A-Za-z0-9._~/-]*$", webhook_path):
            raise ConfigError(
                f"BIBIA_WEBHOOK_PATH takes a path such as /tally/webhook, got {webhook_path!r}"
            )
        return cls(
            tally_api_key=env.get("TALLY_API_KEY") or None,
            tally_form_id=form_id,
            tally_api_url=web("TALLY_API_URL", cls.tally_api_url),
            tally_max_requests_per_minute=number(
                "TALLY_MAX_REQUESTS_PER_MINUTE", 90.0, 1, 6_000, zero=True
            ),
            tally_timeout_seconds=number("TALLY_TIMEOUT_SECONDS", 30.0, 0.1, 3_600),
            db_path=Path(env.get("BIBIA_DB") or cls.db_path),
            export_dir=Path(env.get("BIBIA_EXPORT_DIR") or cls.export_dir),
            taxonomy_path=Path(env.get("BIBIA_TAXONOMY") or DEFAULT_TAXONOMY),
            mapping_path=Path(env.get("BIBIA_MAPPING") or DEFAULT_MAPPING),
            decisions_path=Path(env.get("BIBIA_DECISIONS") or cls.decisions_path),
            tally_form_url=url("TALLY_FORM_URL", None),
            curator=env.get("BIBIA_CURATOR") or None,
            lock_timeout_seconds=number("BIBIA_LOCK_TIMEOUT_SECONDS", 0.0, 0, 86_400),
            batch_size=whole("BIBIA_BATCH_SIZE", cls.batch_size, 1, 100_000),
            run_budget_seconds=number("BIBIA_RUN_BUDGET_SECONDS", 7_200.0, 1, 7 * 86_400),
            max_withdrawal_share=number("BIBIA_MAX_WITHDRAWAL_SHARE", 0.05, 0, 1),
            prefect_api_url=url("PREFECT_API_URL", None),
            failpoint=failpoint,
            enrichment_enabled=switch("BIBIA_ENRICHMENT", True),
            recherche_entreprises_url=web(
                "RECHERCHE_ENTREPRISES_URL", cls.recherche_entreprises_url
            ),
            geo_api_url=web("GEO_API_URL", cls.geo_api_url),
            ban_api_url=web("BAN_API_URL", cls.ban_api_url),
            enrichment_requests_per_second=number(
                "ENRICHMENT_REQUESTS_PER_SECOND", 5.0, 0.01, 1_000, zero=True
            ),
            webhook_secret=env.get("TALLY_WEBHOOK_SECRET") or None,
            webhook_host=(env.get("BIBIA_WEBHOOK_HOST") or cls.webhook_host).strip(),
            webhook_port=whole("BIBIA_WEBHOOK_PORT", cls.webhook_port, 1, 65_535),
            webhook_path=webhook_path,
            webhook_max_bytes=whole(
                "BIBIA_WEBHOOK_MAX_BYTES", cls.webhook_max_bytes, 1_024, 50_000_000
            ),
            webhook_spool=Path(env["BIBIA_WEBHOOK_SPOOL"])
            if env.get("BIBIA_WEBHOOK_SPOOL")
            else None,
            webhook_debounce_seconds=number("BIBIA_WEBHOOK_DEBOUNCE_SECONDS", 2.0, 0, 600),
            webhook_keep_days=number("BIBIA_WEBHOOK_KEEP_DAYS", 30.0, 0, 3_650),
            webhook_request_seconds=number("BIBIA_WEBHOOK_REQUEST_SECONDS", 10.0, 0.5, 600),
            webhook_max_connections=whole("BIBIA_WEBHOOK_MAX_CONNECTIONS", 32, 1, 10_000),
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
