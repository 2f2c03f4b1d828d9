"""What each command does, between the parsed arguments and the pipeline."""

from __future__ import annotations

import logging
import os

from bibia.pipeline import RunReport, run_job
from bibia.progress import Progress
from bibia.runtime import without_hypothesis
from bibia.settings import Settings
from bibia.status import summary
from schemas.errors import BibiaError, ConfigError
from schemas.times import now_utc

log = logging.getLogger("bibia")


def _run(settings: Settings, kind: str, demo: bool = False) -> int:
    """A one-off run. With a Prefect server configured (PREFECT_API_URL), it runs as a flow that
    the server tracks; without one, the same steps run directly: Prefect would otherwise start a
    temporary server for the run, about 25 s on a 2-core machine for nothing kept."""
    without_hypothesis()
    progress = Progress(enabled=settings.progress)
    try:
        if settings.prefect_api_url:
            require_prefect_server(settings.prefect_api_url)
            from flows.sync import FlowContext, run_flow_in_process

            quiet_prefect_console()
            run_flow_in_process(kind, FlowContext(settings, progress.page))
            report = last_run(settings)
        else:
            report = run_job(settings, kind, on_page=progress.page)
    finally:
        progress.done()
    print(summary(report, settings, demo))
    return 0


def require_prefect_server(url: str) -> None:
    """PREFECT_API_URL must answer before a run is handed to it: otherwise one line, not the
    hundred of a client retrying a server that is not there."""
    import requests

    try:
        answer = requests.get(f"{url}/health", timeout=5)
    except requests.RequestException as exc:
        raise ConfigError(
            f"PREFECT_API_URL={url} ne répond pas ({type(exc).__name__}) : démarrer le serveur "
            "(`prefect server start`) ou retirer PREFECT_API_URL pour s'en passer"
        ) from None
    if answer.status_code != 200:
        raise ConfigError(
            f"PREFECT_API_URL={url} a répondu HTTP {answer.status_code} à /health : est-ce "
            "l'adresse de l'API d'un serveur Prefect (finissant par /api) ?"
        )


def quiet_prefect_console() -> None:
    """In a one-off command, Prefect's own console lines (and the tracebacks of a failed flow)
    would bury bibia's one-line summary or error: they still reach the Prefect server."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__name__ == "PrefectConsoleHandler":
            root.removeHandler(handler)
    root.addHandler(logging.NullHandler())


def last_run(settings: Settings) -> RunReport:
    from warehouse.db import connect, first_row

    con = connect(settings.db_path, read_only=True)
    try:
        row = first_row(con, "SELECT * FROM sync_runs ORDER BY started_at DESC LIMIT 1")
        names = [d[0] for d in con.description or []]
    finally:
        con.close()
    if row is None:
        raise BibiaError("le flux s'est terminé sans enregistrer son exécution")
    return RunReport(**dict(zip(names, row, strict=True)))


def sync(settings: Settings, full: bool = False) -> int:
    return _run(settings, "sync_full" if full else "sync")


def sync_demo(settings: Settings, full: bool = False) -> int:
    """The same sync, against the bundled demo form served by the emulator on loopback."""
    from bibia.demo.emulated import emulated
    from bibia.demo.repositories import ensure

    ensure(settings)
    with emulated(settings) as demo:
        return _run(demo, "sync_full" if full else "sync", demo=True)


def rebuild(settings: Settings, demo: bool = False) -> int:
    return _run(settings, "rebuild", demo=demo)


def site(settings: Settings, everything: bool = False) -> int:
    written, rendered = _restage_site(settings, everything)
    folder = settings.export_dir
    print(
        f"site : {written} fichiers réécrits ({rendered} pages de projet refaites) ; édition "
        f"publique dans {folder / 'public' / 'site'}, édition des membres dans "
        f"{folder / 'restricted' / 'site'}, flux du site actuel dans "
        f"{folder / 'public' / 'datami'}"
    )
    return 0


def _restage_site(settings: Settings, everything: bool = False) -> tuple[int, int]:
    """`bibia site`: render both editions and the feed again from the published exports (after
    a change of the site's settings, say), and publish what changed; return the number of files
    rewritten and of project pages rendered. `everything`: render every project's page, even
    those published from the same inputs."""
    from publish.export import StagedExport
    from publish.site.stage import SCOPE, stage_site
    from schemas.datapackage import EXPORT_NAME
    from schemas.project import RESTRICTED
    from schemas.taxonomy import Taxonomy
    from schemas.times import now_utc
    from warehouse.db import connect, owner_only, writer_lock

    export_dir = settings.export_dir
    if not (export_dir / RESTRICTED / f"{EXPORT_NAME}.parquet").exists():
        raise ConfigError(f"pas encore d'exports dans {export_dir} : lancer d'abord `bibia sync`")
    taxonomy = Taxonomy.load(settings.taxonomy_path)
    with owner_only(), writer_lock(settings.db_path, settings.lock_timeout_seconds):
        con = connect(settings.db_path)
        started = now_utc()
        run_id = "site-" + started.strftime("%Y%m%dT%H%M%S")
        staged = StagedExport(
            staging=export_dir / f".staging-{run_id}",
            target=export_dir,
            rows=0,
            scope=SCOPE,
            con=con,
        )
        try:
            con.execute("BEGIN TRANSACTION")
            rendered = stage_site(staged, export_dir, taxonomy, settings.site(), con, everything)
            staged.record(con, run_id, started)
            staged.check_writable()
            con.execute("COMMIT")
            staged.publish()
        except BaseException:
            staged.discard()
            con.close()
            raise
        con.close()
    return len(staged.changed) + len(staged.removed), rendered


def serve(
    settings: Settings, cron: str | None, interval: float | None, full: bool, demo: bool = False
) -> int:
    """Serve the sync flow as a deployment with this schedule, until interrupted. Scheduled
    runs execute here, in subprocesses that inherit this environment (TALLY_*, BIBIA_*).
    `demo`: against the demo form and the government APIs, emulated here for as long as it
    serves (no key needed)."""
    if not settings.prefect_api_url:
        raise ConfigError(
            "bibia serve a besoin d'un serveur Prefect : en démarrer un avec `prefect server "
            "start` et définir PREFECT_API_URL=http://127.0.0.1:4200/api (le README, "
            "« Scheduling with Prefect »)"
        )
    require_prefect_server(settings.prefect_api_url)
    if demo:
        from bibia.demo.emulated import demo_environment, emulated

        with emulated(settings) as served:
            os.environ.update(demo_environment(served))  # what the runs' processes read
            return _serve(served, cron, interval, full)
    settings.require_tally()
    return _serve(settings, cron, interval, full)


def _serve(settings: Settings, cron: str | None, interval: float | None, full: bool) -> int:
    import asyncio

    from prefect.deployments import run_deployment
    from prefect.deployments.runner import EntrypointType
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    from flows.sync import sync_flow

    schedule: dict[str, object] = {"cron": cron} if cron else {"interval": interval}
    log.info(
        "bibia-sync programmé sur %s (%s) ; Ctrl+C pour arrêter",
        settings.prefect_api_url,
        f"cron {cron}" if cron else f"toutes les {interval:g} s",
    )
    # never two runs of the deployment at once (the warehouse lock backs this)
    runner = Runner(name="scheduled", limit=1)
    deployment_id = runner.add_flow(
        sync_flow,
        name="scheduled",
        parameters={"full": full},
        entrypoint_type=EntrypointType.MODULE_PATH,
        **schedule,
    )
    if not cron:  # an interval's first run: now, not one whole interval later
        run_deployment(deployment_id, timeout=0)  # sync here
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        log.info("bibia serve : arrêt demandé")
    return 0


def publish(settings: Settings, demo: bool = False) -> int:
    """`bibia publish`: what is published on disk, delivered now to every configured target
    (even one that is up to date); exit 1 when one stays behind."""
    from bibia.delivery import author_of, configured, deliver_all
    from warehouse.db import connect, owner_only, writer_lock

    if demo:
        from bibia.demo.repositories import ensure

        ensure(settings)
    if not configured(settings):
        print(
            "aucune destination configurée : BIBIA_PUBLISH_SITE_REPO, BIBIA_PUBLISH_FEED_REPO, "
            "DATAGOUV_DATASET (voir le README)"
        )
        return 0
    author_of(settings.publish_author)
    now = now_utc()
    with owner_only(), writer_lock(settings.db_path, settings.lock_timeout_seconds):
        con = connect(
            settings.db_path,
            wait_seconds=settings.warehouse_wait_seconds,
        )
        try:
            outcomes = deliver_all(con, settings, f"publish-{now:%Y%m%dT%H%M%S}", now, None, True)
        finally:
            con.close()
    for outcome in outcomes:
        state = f"EN RETARD : {outcome.behind}" if outcome.behind else outcome.said
        print(f"{outcome.target} ({outcome.address}) : {state}")
    return 1 if any(o.behind for o in outcomes) else 0


def mail(settings: Settings, action: str, address: str | None = None) -> int:
    """`bibia mail send`: what waits in the outbox, sent now (exit 1 when some still waits);
    `bibia mail stop ADRESSE`: no more messages to that address."""
    from bibia.mail import send_mail, stop_sending_to
    from warehouse.db import connect, owner_only, writer_lock

    if action == "stop":
        assert address is not None
        print(stop_sending_to(settings.mail_optouts_path, address))
        return 0
    if settings.mail_mode == "off":
        print("BIBIA_MAIL=off : aucun message n'est envoyé (log ou on pour en envoyer)")
        return 0
    settings.require_mail()
    now = now_utc()
    with owner_only(), writer_lock(settings.db_path, settings.lock_timeout_seconds):
        con = connect(settings.db_path, wait_seconds=settings.warehouse_wait_seconds)
        try:
            sent = send_mail(con, settings, f"mail-{now:%Y%m%dT%H%M%S}", now, digest=False)
        finally:
            con.close()
    print(f"messages : {sent.said(settings.mail_mode, settings.mail_spool)}")
    return 1 if sent.waiting or sent.stopped else 0
