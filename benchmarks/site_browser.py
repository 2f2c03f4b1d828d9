"""The public site of a large register in a real browser (issue 32): how soon the list shows
its first cards, how soon a search shows its results, what each loads.

    python3 run.py bench-site [--n 50000] [--repeat 3] [--site FOLDER | --keep FOLDER]

Without `--site`, a register of N submissions is made first: the realistic form served by the
Tally emulator, every authority placed on the map by the loopback government APIs (any SIREN is
an authority there, its seat a point of metropolitan France), `bibia sync` in a process of its
own. The public edition is then served as it is by a static host on loopback (HTTP/1.1, no
compression: what a browser reads is what is on disk; the gzip figure is what a host that
compresses, as GitHub Pages does, would send) and read by Debian's Chromium, headless, through
chromedriver, its cache off: each measure is a first visit. Medians of `--repeat` visits.

- first cards: the list's page starts painting (`first-contentful-paint`): the page holds its
  latest cards, the filters are the script's once the cards' data is read;
- a search by its address (`index.html?q=WORD`): the results are drawn (the script says so);
- a search typed on a page already read: from the keystroke's event to the cards laid out;
- the map: its data read and its list drawn, then every marker put in its group (the groups
  are made a slice at a time, the page usable meanwhile).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import BIBIA, Profile, environment, forms, serve  # noqa: E402
from bibia.emulators.government import GovApisEmulator  # noqa: E402

LIMIT = 120.0  # seconds a page may take before the benchmark gives up


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_host(folder: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def make_register(n: int, work: Path) -> Path:
    """The public site of a register of `n` realistic submissions, every authority placed."""
    form, _ = forms("realistic", n, Profile())
    tally = serve(form)
    try:
        with GovApisEmulator(anyone=True) as government:
            env = environment(tally.url, work)
            env.update(
                BIBIA_ENRICHMENT="on",
                RECHERCHE_ENTREPRISES_URL=government.urls["recherche_entreprises_url"],
                GEO_API_URL=government.urls["geo_api_url"],
                BAN_API_URL=government.urls["ban_api_url"],
                ENRICHMENT_REQUESTS_PER_SECOND="0",
                BIBIA_SITE_TILES="",
            )
            started = time.monotonic()
            done = subprocess.run([*BIBIA, "sync"], env=env, cwd=work, capture_output=True)
            if done.returncode:
                raise SystemExit(done.stderr.decode()[-2_000:])
            print(f"register of {n:,} submissions made in {time.monotonic() - started:.0f} s")
    finally:
        tally.stop()
    return work / "exports" / "public" / "site"


def chromium() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    driver.set_script_timeout(LIMIT)
    return driver


def until(driver: Any, script: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise SystemExit(f"waited {LIMIT:g} s for {script}")
        time.sleep(0.005)


# What the page read, and when: the script marks `bibia:pret` when its data is drawn.
FIGURES = """
var nav = performance.getEntriesByType('navigation')[0];
var paint = performance.getEntriesByName('first-contentful-paint')[0];
var ready = performance.getEntriesByName('bibia:pret')[0];
var read = performance.getEntriesByType('resource').concat([nav]);
return {
  first_paint: paint ? paint.startTime : null,
  ready: ready ? ready.startTime : null,
  bytes: read.reduce(function (s, e) { return s + e.decodedBodySize; }, 0),
  requests: read.length,
  data: read.filter(function (e) { return e.name.indexOf('/data/') >= 0; })
    .map(function (e) { return e.name.split('/data/')[1].split('?')[0]; }),
  found: (document.getElementById('nombre') || {}).textContent,
  cards: document.querySelectorAll('#cartes li.card, #points li').length
};
"""

TYPED = """
var word = arguments[0], done = arguments[1], box = document.getElementById('q');
var started = performance.now();
box.value = word;
box.dispatchEvent(new Event('input', {bubbles: true}));
document.getElementById('cartes').getBoundingClientRect();  // the cards laid out
done({ms: performance.now() - started, found: document.getElementById('nombre').textContent});
"""


def visit(driver: Any, url: str, mark: str = "bibia:pret") -> dict[str, Any]:
    print(f"  {url}", file=sys.stderr, flush=True)
    driver.get("about:blank")
    driver.get(url)
    until(driver, f"return performance.getEntriesByName({mark!r}).length > 0")
    figures = dict(driver.execute_script(FIGURES))
    figures["ready"] = driver.execute_script(
        f"return performance.getEntriesByName({mark!r})[0].startTime"
    )
    return figures


def gzipped(site: Path, names: list[str]) -> int:
    return sum(len(gzip.compress((site / name).read_bytes(), 6)) for name in names)


def median(values: list[float]) -> float:
    return statistics.median(values)


def a_word(site: Path) -> str:
    """A word of the latest project's name, as a visitor would type it."""
    page = (site / "index.html").read_text(encoding="utf-8")
    start = page.index('<h3 id="t-')
    title = page[page.index(">", page.index("<a ", start)) + 1 : page.index("</a>", start)]
    return max(title.split(), key=len).lower()


def report(site: Path, repeat: int) -> None:
    word = a_word(site)
    driver = chromium()
    rows: list[str] = []
    try:
        with static_host(site) as url:

            def cold(
                path: str, label: str, what: Callable[[dict[str, Any]], str], mark: str = ""
            ) -> None:
                seen = [visit(driver, f"{url}/{path}", mark or "bibia:pret") for _ in range(repeat)]
                last = seen[-1]
                documents = ["index.html" if path.startswith("index") else path.split("?")[0]]
                names = documents + [f"data/{name}" for name in last["data"]]
                zipped = gzipped(site, names) / 1e6
                first = median([s["first_paint"] for s in seen]) / 1000
                ready = median([s["ready"] for s in seen]) / 1000
                rows.append(
                    f"| {label} | {first:.2f} s | {ready:.2f} s | {last['bytes'] / 1e6:.1f} MB "
                    f"({last['requests']} requests) | {zipped:.1f} MB | {what(last)} |"
                )

            cold("index.html", "the list", lambda r: f"{r['found']} projects, {r['cards']} cards")
            cold(
                f"index.html?q={word}",
                f"a search by its address (`?q={word}`)",
                lambda r: f"{r['found']} found",
            )
            cold("carte.html", "the map: its data read", lambda r: f"{r['found']} placed")
            cold(
                "carte.html",
                "the map: every marker in its group",
                lambda r: f"{r['found']} placed",
                "bibia:groupes",
            )
            visit(driver, f"{url}/index.html")
            typed = []
            for _ in range(repeat):
                driver.execute_script("document.getElementById('q').value = ''")
                typed.append(driver.execute_async_script(TYPED, word))
                driver.execute_async_script(TYPED, "")  # back to every project
            ms = median([t["ms"] for t in typed])
            rows.append(
                f"| a search typed (`{word}`), the page read | | {ms / 1000:.3f} s | 0 | 0 | "
                f"{typed[-1]['found']} found |"
            )
    finally:
        driver.quit()
    print("| page | first paint | results drawn | read (raw) | gzip | shown |")
    print("|---|---:|---:|---:|---:|---|")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--site", type=Path, help="a public edition already made: read it")
    parser.add_argument("--keep", type=Path, help="make the register in this folder, kept")
    args = parser.parse_args()
    if args.site:
        report(args.site, args.repeat)
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        report(make_register(args.n, args.keep), args.repeat)
        return
    with tempfile.TemporaryDirectory() as temporary:
        site = make_register(args.n, Path(temporary))
        report(site, args.repeat)


if __name__ == "__main__":
    main()
