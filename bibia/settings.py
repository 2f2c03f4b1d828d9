"""One settings object, built at the entry point from the environment and passed down.

Nothing in bibia reads the environment anywhere else.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bibia.steps import StepName
from schemas.errors import ConfigError

if TYPE_CHECKING:
    from publish.site.build import SiteSettings

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_TAXONOMY = PACKAGE_ROOT.parent / "schemas" / "taxonomy.yaml"
DEFAULT_MAPPING = PACKAGE_ROOT.parent / "schemas" / "mapping.yaml"
TALLY_VERSION = "2025-02-01"
WEB_ADDRESS = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[^\s?#]*)?$")
FORM_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
# the steps a run goes through, by name: what BIBIA_FAILPOINT may name
FAILPOINTS = tuple(StepName)
LOOPBACK = ("127.0.0.1", "::1", "localhost")


# -- how each variable is read -------------------------------------------------------------
Reader = Callable[[str, str], object]  # (variable, its text) -> the value, or ConfigError


def number(low: float, high: float, zero: bool = False) -> Reader:
    def read(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (value == 0 and zero) and not (math.isfinite(value) and low <= value <= high):
            accepted = f"{'0 (désactivé) ou ' if zero else ''}un nombre de {low:g} à {high:g}"
            raise ConfigError(f"{name} prend {accepted}, pas {raw!r}")
        return value

    return read


def whole(low: int, high: int) -> Reader:
    def read(name: str, raw: str) -> int:
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise ConfigError(f"{name} prend un nombre entier de {low} à {high}, pas {raw!r}")
        return int(raw)

    return read


def switch(name: str, raw: str) -> bool:
    if raw.lower() in {"1", "on", "true", "yes"}:
        return True
    if raw.lower() in {"0", "off", "false", "no"}:
        return False
    raise ConfigError(f"{name} prend on ou off, pas {raw!r}")


def web_address(name: str, raw: str) -> str:
    if not WEB_ADDRESS.match(raw):
        raise ConfigError(
            f"{name} prend une adresse http:// ou https:// comme "
            f"https://example.org/chemin, pas {raw!r}"
        )
    return raw.rstrip("/")


def site_address(name: str, raw: str) -> str:
    """A site's address: http(s), or a folder of this machine (`file:///...`: the demo)."""
    if raw.startswith("file:///") and not re.search(r"\s", raw):
        return raw.rstrip("/")
    return web_address(name, raw)


def text(_name: str, raw: str) -> str:
    return raw


def token(name: str, raw: str) -> str:
    """A key or a token sent in an HTTP header: printable ASCII, no space."""
    if not all(33 <= ord(c) < 127 for c in raw):
        raise ConfigError(f"{name} prend des caractères ASCII imprimables sans espace (un jeton)")
    return raw


def path(_name: str, raw: str) -> Path:
    return Path(raw)


def form_id(name: str, raw: str) -> str:
    if not FORM_ID.match(raw):
        raise ConfigError(
            f"{name} prend l'identifiant d'un formulaire Tally (lettres et chiffres, comme dans "
            f"tally.so/r/mexJoq), pas {raw!r}"
        )
    return raw


def failpoint(name: str, raw: str) -> str:
    if raw.removesuffix(":kill") not in FAILPOINTS:
        raise ConfigError(
            f"{name} prend l'une des étapes {', '.join(FAILPOINTS)} (un échec là), ou l'une "
            f"d'elles suivie de :kill (SIGKILL là), pas {raw!r}"
        )
    return raw


def url_path(name: str, raw: str) -> str:
    if not re.match(r"^/[A-Za-z0-9._~/-]*$", raw):
        raise ConfigError(f"{name} prend un chemin comme /tally/webhook, pas {raw!r}")
    return raw


def one_of(*choices: str) -> Reader:
    def read(name: str, raw: str) -> str:
        if raw.lower() not in choices:
            raise ConfigError(f"{name} prend {' ou '.join(choices)}, pas {raw!r}")
        return raw.lower()

    return read


def mailbox(name: str, raw: str) -> str:
    """An address, alone or as `Nom <adresse>`: the same test as a contributor's address."""
    from transforms.mail import address_of, sender_address

    if address_of(sender_address(raw)) is None:
        raise ConfigError(
            f"{name} prend une adresse électronique (ou « Nom <adresse> »), pas {raw!r}"
        )
    return raw.strip()


def mailboxes(name: str, raw: str) -> str:
    """One address or several, separated by commas."""
    return ", ".join(mailbox(name, part) for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Variable:
    """One environment variable: the setting it fills, how its text is read, how the README
    shows its default, and the sentence that documents it there."""

    name: str
    setting: str
    read: Reader
    meaning: str
    default: str | None = None  # how the README shows the default; None: the setting's own
    empty_is_a_value: bool = False  # set but empty means something (no map tiles)

    def shown_default(self) -> str:
        if self.default is not None:
            return self.default
        value = Settings.__dataclass_fields__[self.setting].default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return f"`{value}`"


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "TALLY_API_KEY",
        "tally_api_key",
        text,
        "bearer key; never printed, logged or stored",
        default="(required for `sync`)",
    ),
    Variable(
        "TALLY_FORM_ID",
        "tally_form_id",
        form_id,
        "the form to read",
        default="(required for `sync`)",
    ),
    Variable(
        "TALLY_API_URL",
        "tally_api_url",
        web_address,
        "base URL (tests and the demo point it at loopback)",
    ),
    Variable(
        "TALLY_MAX_REQUESTS_PER_MINUTE",
        "tally_max_requests_per_minute",
        number(1, 6_000, zero=True),
        "client-side pacing under Tally's 100/min (0: no pacing)",
    ),
    Variable(
        "TALLY_TIMEOUT_SECONDS",
        "tally_timeout_seconds",
        number(0.1, 3_600),
        "the longest an HTTP answer may take, whole (a body trickled in does not extend it)",
    ),
    Variable(
        "BIBIA_DB",
        "db_path",
        path,
        "the DuckDB file",
    ),
    Variable(
        "BIBIA_EXPORT_DIR",
        "export_dir",
        path,
        "where exports are written",
    ),
    Variable(
        "BIBIA_TAXONOMY",
        "taxonomy_path",
        path,
        "the taxonomy (vocabularies, labels, aliases)",
        default="`schemas/taxonomy.yaml`",
    ),
    Variable(
        "BIBIA_MAPPING",
        "mapping_path",
        path,
        "which form question feeds which field",
        default="`schemas/mapping.yaml`",
    ),
    Variable(
        "BIBIA_DECISIONS",
        "decisions_path",
        path,
        "the curators' decisions (`demo-output/decisions.yaml` with `--demo`)",
    ),
    Variable(
        "BIBIA_CURATOR",
        "curator",
        text,
        "who takes the decisions of `bibia curate`",
        default="the system user",
    ),
    Variable(
        "TALLY_FORM_URL",
        "tally_form_url",
        web_address,
        "the form's public link, from which correction links are made",
        default="`https://tally.so/r/<TALLY_FORM_ID>`",
    ),
    Variable(
        "BIBIA_READER_WAIT_SECONDS",
        "reader_wait_seconds",
        number(0, 86_400),
        (
            "how long a run waits for a connection to the warehouse (an analyst's query, even "
            "read-only) to close before giving up"
        ),
    ),
    Variable(
        "BIBIA_LOCK_TIMEOUT_SECONDS",
        "lock_timeout_seconds",
        number(0, 86_400),
        (
            "how long a run waits for another run (or an analyst's connection to the warehouse) to"
            " end before giving up"
        ),
    ),
    Variable(
        "BIBIA_RUN_BUDGET_SECONDS",
        "run_budget_seconds",
        number(1, 7 * 86_400),
        "a run still going after this fails with one line, and changes nothing",
    ),
    Variable(
        "BIBIA_MAX_WITHDRAWAL_SHARE",
        "max_withdrawal_share",
        number(0, 1),
        (
            "the largest share of the register a full sync withdraws without `--allow-withdrawals`"
            " (at least one submission)"
        ),
    ),
    Variable(
        "BIBIA_BATCH_SIZE",
        "batch_size",
        whole(1, 100_000),
        (
            "submissions derived at once; a run of more than one batch derives in a worker "
            "process; the peak memory grows with it (measured: 2,000 take about 35 MiB more than "
            "1,000)"
        ),
    ),
    Variable(
        "BIBIA_ENRICHMENT",
        "enrichment_enabled",
        switch,
        "`off`: no lookup of SIRETs (coordinates then come from the cache only)",
        default="`on`",
    ),
    Variable(
        "RECHERCHE_ENTREPRISES_URL",
        "recherche_entreprises_url",
        web_address,
        "API Recherche d'entreprises",
    ),
    Variable(
        "GEO_API_URL",
        "geo_api_url",
        web_address,
        "geo.api.gouv.fr (town halls, EPCI centres)",
    ),
    Variable(
        "BAN_API_URL",
        "ban_api_url",
        web_address,
        "the BAN geocoder",
    ),
    Variable(
        "ENRICHMENT_REQUESTS_PER_SECOND",
        "enrichment_requests_per_second",
        number(0.01, 1_000, zero=True),
        "pacing of those three services",
    ),
    Variable(
        "BIBIA_SITE_TILES",
        "site_tiles",
        text,
        "the map's tiles (a URL template); empty: the points on a plain background",
        default=(
            'CARTO "voyager" '
            "(`https://{s}.basemaps.cartocdn.com/rastertiles/voyager/{z}/{x}/{y}{r}.png`), as the "
            "current site"
        ),
        empty_is_a_value=True,
    ),
    Variable(
        "BIBIA_SITE_ATTRIBUTION",
        "site_attribution",
        text,
        "the tiles' credit line, shown as text",
        empty_is_a_value=True,
    ),
    Variable(
        "BIBIA_SITE_BASE",
        "site_base",
        url_path,
        (
            "the path the public site is served under (`/bibliotheque-ia/` for a GitHub Pages "
            "project site): its `404.html` links from there"
        ),
    ),
    Variable(
        "BIBIA_PUBLISH_SITE_REPO",
        "publish_site_repo",
        text,
        "a git repository the public site is pushed to after each run that changed it (any "
        "address git accepts, `file://` included; never with a token in it)",
        default="(none: not pushed)",
    ),
    Variable(
        "BIBIA_PUBLISH_SITE_BRANCH",
        "publish_site_branch",
        text,
        "its branch, which the site fills at its root (GitHub Pages serves it)",
    ),
    Variable(
        "BIBIA_PUBLISH_FEED_REPO",
        "publish_feed_repo",
        text,
        "the repository the association's current site reads: the Datami feed is committed "
        "there, at its paths, nothing else of it touched",
        default="(none: not pushed)",
    ),
    Variable(
        "BIBIA_PUBLISH_FEED_BRANCH",
        "publish_feed_branch",
        text,
        "its branch",
    ),
    Variable(
        "BIBIA_PUBLISH_FEED_PATH",
        "publish_feed_path",
        text,
        "the folder of that repository holding `csv/` and `json/` (empty: its root)",
        default="(its root)",
    ),
    Variable(
        "BIBIA_GIT_TOKEN",
        "git_token",
        token,
        "the token git pushes with over https (write access to those repositories' contents); "
        "given to git for each call only, never stored, printed or logged. Without it: the "
        "machine's credential helper or SSH key",
        default="(none)",
    ),
    Variable(
        "BIBIA_PUBLISH_AUTHOR",
        "publish_author",
        text,
        "the author of bibia's commits, `Name <address>`",
    ),
    Variable(
        "BIBIA_PUBLISH_TIMEOUT_SECONDS",
        "publish_timeout_seconds",
        number(1, 7_200),
        "the longest one git command or one request to data.gouv.fr may take",
    ),
    Variable(
        "BIBIA_PUBLISH_BACKOFF_SECONDS",
        "publish_backoff_seconds",
        number(0, 600),
        "a delivery that met a transient failure (the network, a server error) is tried again "
        "after this, then after five times this, within the run",
    ),
    Variable(
        "DATAGOUV_API_URL",
        "datagouv_api_url",
        web_address,
        "data.gouv.fr's API (`https://demo.data.gouv.fr/api/1` to try)",
    ),
    Variable(
        "DATAGOUV_API_KEY",
        "datagouv_api_key",
        token,
        "the API key of an editor of the dataset; never printed, logged or stored",
        default="(none: not uploaded)",
    ),
    Variable(
        "DATAGOUV_DATASET",
        "datagouv_dataset",
        text,
        "the dataset (id or slug) whose resources the public CSV, Parquet, datapackage and "
        "Table Schema replace, each keeping its id and stable address",
        default="(none: not uploaded)",
    ),
    Variable(
        "TALLY_WEBHOOK_SECRET",
        "webhook_secret",
        text,
        "the signing secret of the form's webhook in Tally; never printed, logged or stored",
        default="(required for `webhook`)",
    ),
    Variable(
        "BIBIA_WEBHOOK_HOST",
        "webhook_host",
        text,
        "where `bibia webhook` listens (an IPv6 address such as `::1` too)",
    ),
    Variable(
        "BIBIA_WEBHOOK_PORT",
        "webhook_port",
        whole(1, 65_535),
        "the port it listens on",
    ),
    Variable(
        "BIBIA_WEBHOOK_PATH",
        "webhook_path",
        url_path,
        "the path it answers on",
    ),
    Variable(
        "BIBIA_WEBHOOK_MAX_BYTES",
        "webhook_max_bytes",
        whole(1_024, 50_000_000),
        "the largest event accepted",
    ),
    Variable(
        "BIBIA_WEBHOOK_SPOOL",
        "webhook_spool",
        path,
        (
            "where events wait for a run (owner-only; in an existing folder that is not bibia's, "
            "in its `bibia-webhook/`)"
        ),
        default="`webhook-spool/` beside `BIBIA_DB`",
    ),
    Variable(
        "BIBIA_WEBHOOK_DEBOUNCE_SECONDS",
        "webhook_debounce_seconds",
        number(0, 600),
        "how long the receiver waits after an event before asking for a run (a burst, one run)",
    ),
    Variable(
        "BIBIA_WEBHOOK_KEEP_DAYS",
        "webhook_keep_days",
        number(0, 3_650),
        (
            "how long landed events stay in the spool's `landed/` (then removed: the warehouse "
            "holds them)"
        ),
    ),
    Variable(
        "BIBIA_WEBHOOK_REQUEST_SECONDS",
        "webhook_request_seconds",
        number(0.5, 600),
        "a whole request (line, headers, body) arrives within this, or the connection is cut",
    ),
    Variable(
        "BIBIA_WEBHOOK_MAX_CONNECTIONS",
        "webhook_max_connections",
        whole(1, 10_000),
        "connections served at once; one more is answered 503 at once",
    ),
    Variable(
        "PROCONNECT_DISCOVERY_URL",
        "proconnect_discovery_url",
        web_address,
        (
            "ProConnect's discovery address (`https://<domaine>/api/v2/.well-known/"
            "openid-configuration`), integration or production"
        ),
        default="(required for `members serve`)",
    ),
    Variable(
        "PROCONNECT_CLIENT_ID",
        "proconnect_client_id",
        text,
        "the members' space's `client_id`, as registered with ProConnect",
        default="(required for `members serve`)",
    ),
    Variable(
        "PROCONNECT_CLIENT_SECRET",
        "proconnect_client_secret",
        text,
        "its `client_secret`; never printed, logged or stored",
        default="(required for `members serve`)",
    ),
    Variable(
        "PROCONNECT_ACR",
        "proconnect_acr",
        text,
        "the level of assurance asked for (`claims.id_token.acr`) and required of the id_token",
    ),
    Variable(
        "BIBIA_MEMBERS_URL",
        "members_url",
        web_address,
        (
            "the public address of the members' space; its `/connexion/retour` and "
            "`/deconnexion/retour` are the addresses registered with ProConnect (https, except "
            "on loopback)"
        ),
        default="(required for `members serve`)",
    ),
    Variable(
        "BIBIA_SESSION_SECRET",
        "session_secret",
        text,
        "signs the members' cookies: 32 characters or more, random; never printed or logged",
        default="(required for `members serve`)",
    ),
    Variable(
        "BIBIA_SESSION_HOURS",
        "session_hours",
        number(0.05, 24),
        "a members' session ends this long after the login (ProConnect's own lasts 12 h)",
    ),
    Variable(
        "BIBIA_MEMBERS_HOST",
        "members_host",
        text,
        "where `bibia members serve` listens",
    ),
    Variable(
        "BIBIA_MEMBERS_PORT",
        "members_port",
        whole(1, 65_535),
        "the port it listens on",
    ),
    Variable(
        "BIBIA_MEMBERS",
        "members_path",
        path,
        "the membership file: member organisations, people granted or revoked, curators",
    ),
    Variable(
        "BIBIA_MEMBERS_JOURNAL",
        "members_journal_path",
        path,
        "who read which page or file, and who asked for access (SQLite, owner-only)",
        default="`members-journal.sqlite` beside `BIBIA_DB`",
    ),
    Variable(
        "BIBIA_MEMBERS_JOURNAL_DAYS",
        "members_journal_days",
        number(1, 3_650),
        "how long the journal keeps a read or a request, then deletes it",
    ),
    Variable(
        "BIBIA_MAIL",
        "mail_mode",
        one_of("off", "log", "on"),
        (
            "messages to contributors (held, reminded, published) and to the curators (a digest "
            "after a run with news): `off` (none, nothing queued), `log` (each written as an `.eml`"
            " file into `BIBIA_MAIL_FOLDER`, nothing sent: the demo, a first dry run) or `on` "
            "(sent through `BIBIA_SMTP_HOST`)"
        ),
    ),
    Variable(
        "BIBIA_MAIL_FROM",
        "mail_from",
        mailbox,
        "the sender, `Nom <adresse>` (an address the SMTP server lets bibia send from)",
        default="(required with `BIBIA_MAIL`)",
    ),
    Variable(
        "BIBIA_CURATORS_EMAIL",
        "curators_email",
        mailboxes,
        (
            "the curators (one address or several, separated by commas): they receive the "
            "digest, and contributors' replies (`Reply-To`)"
        ),
        default="(required with `BIBIA_MAIL`)",
    ),
    Variable(
        "BIBIA_SITE_URL",
        "site_url",
        site_address,
        "the public site's address, from which a published project's page address is made",
        default="(required with `BIBIA_MAIL`)",
    ),
    Variable(
        "BIBIA_MAIL_FOLDER",
        "mail_folder",
        path,
        "where `BIBIA_MAIL=log` writes its `.eml` files (`demo-output/mail/` with `--demo`)",
        default="`mail/` beside `BIBIA_DB`",
    ),
    Variable(
        "BIBIA_MAIL_OPTOUTS",
        "mail_optouts_path",
        path,
        (
            "the addresses that asked for no more messages, one a line (`bibia mail stop "
            "ADRESSE` adds one); nothing is sent to them"
        ),
    ),
    Variable(
        "BIBIA_MAIL_REMINDER_DAYS",
        "mail_reminder_days",
        number(1, 365, zero=True),
        "a submission still held this long after its message gets one reminder (0: none)",
    ),
    Variable(
        "BIBIA_MAIL_PER_MINUTE",
        "mail_per_minute",
        number(1, 6_000),
        "the most messages sent in a minute (what is left waits for the next run)",
    ),
    Variable(
        "BIBIA_SMTP_HOST",
        "smtp_host",
        text,
        "the SMTP server (`BIBIA_MAIL=on`)",
        default="(required with `BIBIA_MAIL=on`)",
    ),
    Variable(
        "BIBIA_SMTP_PORT",
        "smtp_port",
        whole(1, 65_535),
        "its port",
        default="587 (`starttls`), 465 (`tls`), 25 (`none`)",
    ),
    Variable(
        "BIBIA_SMTP_TLS",
        "smtp_tls",
        one_of("starttls", "tls", "none"),
        (
            "`starttls` (the connection made secure before anything is said), `tls` (secure "
            "from the start) or `none` (only to a server on loopback); certificates are checked"
        ),
    ),
    Variable(
        "BIBIA_SMTP_CA_FILE",
        "smtp_ca_file",
        path,
        "the authorities (PEM) the server's certificate is checked against",
        default="(the system's)",
    ),
    Variable(
        "BIBIA_SMTP_USER",
        "smtp_user",
        text,
        "the account bibia logs in with (`AUTH`, over TLS only)",
        default="(none: no login)",
    ),
    Variable(
        "BIBIA_SMTP_PASSWORD",
        "smtp_password",
        text,
        "its password; never printed, logged or stored",
        default="(none)",
    ),
    Variable(
        "PREFECT_API_URL",
        "prefect_api_url",
        web_address,
        "a Prefect server: runs are then recorded by it, and `bibia serve` needs it",
        default="(none)",
    ),
    Variable(
        "BIBIA_FAILPOINT",
        "failpoint",
        failpoint,
        (
            "a step that must fail (`fetch_form`, `fetch_questions`, `fetch_page`, `land`, "
            "`derive`, `enrich`, `load`, `export`, `site`, `outbox`, `publish`, `deliver`, "
            "`mail`), or, followed "
            "by `:kill`, where the process kills itself (SIGKILL), to rehearse failures and "
            "crashes"
        ),
        default="(none)",
    ),
)


def markdown_table() -> str:
    """The README's table of the variables, made from their declarations."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.shown_default()} | {v.meaning} |" for v in VARIABLES]
    return "\n".join(rows)


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
    reader_wait_seconds: float = 30.0  # a short query ends meanwhile
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
    site_base: str = "/"
    # deliveries after each run that changed what is public (`publish/deliver/`)
    publish_site_repo: str | None = None
    publish_site_branch: str = "gh-pages"
    publish_feed_repo: str | None = None
    publish_feed_branch: str = "main"
    publish_feed_path: str = ""
    git_token: str | None = field(default=None, repr=False)
    publish_author: str = "bibia <bibia@interconnectes.invalid>"
    publish_timeout_seconds: float = 300.0
    publish_backoff_seconds: float = 2.0
    datagouv_api_url: str = "https://www.data.gouv.fr/api/1"
    datagouv_api_key: str | None = field(default=None, repr=False)
    datagouv_dataset: str | None = None
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
    # `bibia members serve`: the members' edition behind a ProConnect login
    proconnect_discovery_url: str | None = None
    proconnect_client_id: str | None = None
    proconnect_client_secret: str | None = field(default=None, repr=False)
    proconnect_acr: str = "eidas1"
    members_url: str | None = None
    session_secret: str | None = field(default=None, repr=False)
    session_hours: float = 12.0
    members_host: str = "127.0.0.1"
    members_port: int = 8788
    members_path: Path = Path("curation/members.yaml")
    members_journal_path: Path | None = None  # default: beside the warehouse
    members_journal_days: float = 90.0
    # messages to contributors and curators (`bibia.mail`): queued in the run, sent after it
    mail_mode: str = "off"
    mail_from: str | None = None
    curators_email: str | None = None
    site_url: str | None = None
    mail_folder: Path | None = None  # default: beside the warehouse
    mail_optouts_path: Path = Path("curation/mail-optouts.txt")
    mail_reminder_days: float = 14.0
    mail_per_minute: float = 30.0
    smtp_host: str | None = None
    smtp_port: int | None = None  # default: by smtp_tls
    smtp_tls: str = "starttls"
    smtp_ca_file: Path | None = None
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_timeout_seconds: float = 30.0

    def __repr__(self) -> str:  # the key and the secret never appear, even in a repr
        secret = {
            "tally_api_key",
            "webhook_secret",
            "proconnect_client_secret",
            "session_secret",
            "git_token",
            "datagouv_api_key",
            "smtp_password",
        }
        shown = {k: v for k, v in self.__dict__.items() if k not in secret}
        key = "set" if self.tally_api_key else "unset"
        return (
            f"Settings(tally_api_key=<{key}>, webhook_secret=<...>, "
            f"proconnect_client_secret=<...>, session_secret=<...>, git_token=<...>, "
            f"datagouv_api_key=<...>, smtp_password=<...>, {shown})"
        )

    @property
    def spool_folder(self) -> Path:
        """Where the webhook's events wait for a run (BIBIA_WEBHOOK_SPOOL)."""
        return self.webhook_spool or self.db_path.parent / "webhook-spool"

    @property
    def warehouse_wait_seconds(self) -> float:
        """How long a writer waits for the warehouse: another run's turn, a reader's query."""
        return max(self.lock_timeout_seconds, self.reader_wait_seconds)

    @property
    def members_journal(self) -> Path:
        """Where the members' space keeps its journal (BIBIA_MEMBERS_JOURNAL)."""
        return self.members_journal_path or self.db_path.parent / "members-journal.sqlite"

    @property
    def mail_spool(self) -> Path:
        """Where `BIBIA_MAIL=log` writes its messages (BIBIA_MAIL_FOLDER)."""
        return self.mail_folder or self.db_path.parent / "mail"

    def require_mail(self) -> None:
        """What messages cannot go without (`BIBIA_MAIL` log or on): one line, exit 2, before
        the run."""
        if self.mail_mode == "off":
            return
        needed = [
            ("BIBIA_MAIL_FROM", self.mail_from),
            ("BIBIA_CURATORS_EMAIL", self.curators_email),
            ("BIBIA_SITE_URL", self.site_url),
        ]
        if self.mail_mode == "on":
            needed.append(("BIBIA_SMTP_HOST", self.smtp_host))
        missing = [name for name, value in needed if not value]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} : à définir avec BIBIA_MAIL={self.mail_mode} (ou "
                "BIBIA_MAIL=off : aucun message)"
            )
        if self.mail_mode != "on":
            return
        if self.smtp_tls == "none" and self.smtp_host not in LOOPBACK:
            raise ConfigError(
                f"BIBIA_SMTP_TLS=none n'est permis que vers un serveur local (127.0.0.1, ::1, "
                f"localhost), pas {self.smtp_host} : starttls ou tls"
            )
        if bool(self.smtp_user) != bool(self.smtp_password):
            raise ConfigError("BIBIA_SMTP_USER et BIBIA_SMTP_PASSWORD vont ensemble")
        if self.smtp_ca_file is not None and not self.smtp_ca_file.is_file():
            raise ConfigError(f"BIBIA_SMTP_CA_FILE : fichier introuvable ({self.smtp_ca_file})")

    def require_members(self) -> None:
        """What `bibia members serve` cannot start without: one line, exit 2."""
        missing = [
            name
            for name, value in (
                ("PROCONNECT_DISCOVERY_URL", self.proconnect_discovery_url),
                ("PROCONNECT_CLIENT_ID", self.proconnect_client_id),
                ("PROCONNECT_CLIENT_SECRET", self.proconnect_client_secret),
                ("BIBIA_MEMBERS_URL", self.members_url),
                ("BIBIA_SESSION_SECRET", self.session_secret),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} : à définir pour `bibia members serve` (ou essayer "
                "`bibia members serve --demo`, qui n'a besoin de rien)"
            )
        if len(self.session_secret or "") < 32:
            raise ConfigError(
                "BIBIA_SESSION_SECRET doit compter au moins 32 caractères, tirés au hasard "
                "(par exemple : python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of this environment, each checked: a bad value is one line naming the
        variable and what it accepts (exit 2), before anything is done."""
        env = os.environ if env is None else env
        found: dict[str, object] = {}
        for variable in VARIABLES:
            raw = env.get(variable.name)
            if raw is None:
                continue
            raw = raw.strip()
            if raw or variable.empty_is_a_value:
                found[variable.setting] = variable.read(variable.name, raw) if raw else raw
        return cls(**found)  # type: ignore[arg-type]

    def site(self) -> SiteSettings:
        """What the site's pages need of the settings, as a value (`publish` never sees these
        settings)."""
        from publish.site.build import SiteSettings

        base = self.site_base if self.site_base.endswith("/") else f"{self.site_base}/"
        return SiteSettings(tiles=self.site_tiles, attribution=self.site_attribution, base=base)

    @property
    def delivery_folder(self) -> Path:
        """Where the deliveries keep their working clones: beside the warehouse."""
        return self.db_path.parent / "delivery"

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
                f"{' et '.join(missing)} : à définir pour `bibia sync` "
                "(ou essayer `bibia sync --demo`, qui n'a besoin d'aucune clé)"
            )


if __name__ == "__main__":  # the README's table of variables
    print(markdown_table())
