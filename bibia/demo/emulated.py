"""The demo's surroundings: the bundled form served by the Tally emulator, and the government
APIs emulated, on loopback, for as long as a `with` lasts. No key, no network."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from bibia.demo import DEMO_API_KEY, DEMO_FORM_ID, DEMO_FORM_PATH
from bibia.emulators.government import GovApisEmulator
from bibia.emulators.tally import TallyEmulator, load_form
from bibia.settings import Settings

log = logging.getLogger("bibia")


@contextlib.contextmanager
def emulated(settings: Settings) -> Iterator[Settings]:
    """`settings`, pointed at the emulators while they serve."""
    with (
        TallyEmulator([load_form(str(DEMO_FORM_PATH))], api_key=DEMO_API_KEY) as tally,
        GovApisEmulator() as government,
    ):
        log.info(
            "démo : émulateur de Tally sur %s (formulaire %s) ; API publiques émulées sur %s",
            tally.url,
            DEMO_FORM_ID,
            government.url,
        )
        yield settings.with_(
            tally_api_url=tally.url,
            tally_api_key=DEMO_API_KEY,
            tally_form_id=DEMO_FORM_ID,
            enrichment_requests_per_second=0.0,
            **government.urls,
        )


def demo_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes a `bibia` process (a served flow run) use these demo
    settings: the emulators' addresses, the demo's key (public: it opens only the emulator)
    and its folders."""
    return {
        "TALLY_API_URL": settings.tally_api_url,
        "TALLY_API_KEY": settings.tally_api_key or "",
        "TALLY_FORM_ID": settings.tally_form_id or "",
        "TALLY_MAX_REQUESTS_PER_MINUTE": "0",
        "BIBIA_DB": str(settings.db_path.resolve()),
        "BIBIA_EXPORT_DIR": str(settings.export_dir.resolve()),
        "BIBIA_DECISIONS": str(settings.decisions_path.resolve()),
        "RECHERCHE_ENTREPRISES_URL": settings.recherche_entreprises_url,
        "GEO_API_URL": settings.geo_api_url,
        "BAN_API_URL": settings.ban_api_url,
        "ENRICHMENT_REQUESTS_PER_SECOND": "0",
        **_mail_environment(settings),
    }


def _mail_environment(settings: Settings) -> dict[str, str]:
    """The demo's messages, written as .eml files by the served runs too."""
    if settings.mail_mode == "off":
        return {}
    return {
        "BIBIA_MAIL": settings.mail_mode,
        "BIBIA_MAIL_FOLDER": str(settings.mail_spool.resolve()),
        "BIBIA_MAIL_FROM": settings.mail_from or "",
        "BIBIA_CURATORS_EMAIL": settings.curators_email or "",
        "BIBIA_SITE_URL": settings.site_url or "",
        "BIBIA_MAIL_OPTOUTS": str(settings.mail_optouts_path.resolve()),
    }
