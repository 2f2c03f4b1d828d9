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
            "demo: Tally emulator on %s serving form %s; government APIs emulated on %s",
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
