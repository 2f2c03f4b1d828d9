"""`bibia`: the command line of the pipeline (see docs/architecture.md and the README)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bibia import __version__
from bibia.settings import Settings
from schemas.errors import BibiaError, ConfigError, Interrupted

log = logging.getLogger("bibia")
DEMO_OUTPUT = Path("demo-output")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bibia",
        description="Bibliothèque d'IA territoriales: Tally form -> DuckDB -> exports.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    parser.add_argument("--version", action="version", version=f"bibia {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync", help="pull new submissions, normalise, validate, load, export")
    sync.add_argument("--full", action="store_true", help="re-read every submission")
    sync.add_argument(
        "--allow-withdrawals",
        action="store_true",
        help="with --full: withdraw what Tally no longer lists even past "
        "BIBIA_MAX_WITHDRAWAL_SHARE of the register (deletions you know are real)",
    )
    sync.add_argument(
        "--demo",
        action="store_true",
        help="run against the bundled demo form, served on loopback (no key needed)",
    )
    rebuild = sub.add_parser(
        "rebuild", help="re-derive every table and export from the raw submissions"
    )
    rebuild.add_argument("--demo", action="store_true", help="the demo's warehouse")
    site = sub.add_parser(
        "site",
        help="render the site (public and members' editions) and the current site's feed "
        "again from the published exports (a sync does it whenever its exports change)",
    )
    site.add_argument(
        "--all",
        action="store_true",
        help="render every project's page, even those published from the same inputs",
    )
    site.add_argument("--demo", action="store_true", help="the demo's exports")
    serve = sub.add_parser("serve", help="run sync on a schedule through a Prefect server")
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help='cron expression, e.g. "0 * * * *"')
    when.add_argument("--interval", metavar="SECONDS", type=float, help="seconds between runs")
    serve.add_argument("--full", action="store_true", help="scheduled runs re-read everything")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="serve the demo: its form and the government APIs emulated here, no key needed",
    )
    sql = sub.add_parser(
        "sql",
        help="une requête SQL en lecture seule sur l'entrepôt (ou un fichier Parquet), "
        "affichée en tableau",
    )
    sql.add_argument("query", metavar="REQUÊTE", help="la requête ; `-` : la lire sur l'entrée")
    sql.add_argument("--csv", action="store_true", help="le résultat en CSV")
    sql.add_argument("--demo", action="store_true", help="l'entrepôt de la démo")
    publish = sub.add_parser(
        "publish",
        help="livrer maintenant le site, le flux et les données ouvertes publiés aux "
        "destinations configurées (dépôts git, data.gouv.fr), même sans changement",
    )
    publish.add_argument("--demo", action="store_true", help="les dépôts de la démo")
    sub.add_parser(
        "webhook",
        help="receive Tally's signed webhook events (TALLY_WEBHOOK_SECRET) and ask for a run "
        "after each burst; scheduled syncs stay the safety net",
    )
    _curate_parser(sub)
    _members_parser(sub)
    status = sub.add_parser("status", help="last runs, quarantine and exports freshness")
    status.add_argument("--runs", default="10", metavar="N", help="how many runs to show")
    status.add_argument(
        "--held",
        default="20",
        metavar="N|all",
        help="how many held submissions to list, the most recent first (default 20)",
    )
    status.add_argument("--demo", action="store_true", help="the demo's warehouse")
    return parser


def _curate_parser(sub: Any) -> None:
    """`bibia curate` and its actions."""
    curate = sub.add_parser(
        "curate", help="curators' decisions: correct a submission, withdraw or restore a project"
    )
    actions = curate.add_subparsers(dest="action", required=True)
    correct = actions.add_parser("correct", help="set one field of one submission")
    correct.add_argument("submission_id")
    correct.add_argument("field")
    correct.add_argument("values", nargs="+", metavar="VALUE", help="several for a list field")
    withdraw = actions.add_parser("withdraw", help="keep a project out of both exports")
    withdraw.add_argument("projet_id")
    restore = actions.add_parser("restore", help="bring a withdrawn project back")
    restore.add_argument("projet_id")
    revoke = actions.add_parser("revoke", help="end a correction")
    revoke.add_argument("decision_id")
    for action in (correct, withdraw, restore, revoke):
        action.add_argument("--reason", required=True, help="why (kept with the decision)")
    listed = actions.add_parser("list", help="the decisions in force and their state")
    listed.add_argument("--all", action="store_true", help="ended decisions too")
    for action in (correct, withdraw, restore, revoke, listed):
        action.add_argument("--demo", action="store_true", help="the demo's warehouse")


def _members_parser(sub: Any) -> None:
    """`bibia members` and its actions (in French: curators and operators read them)."""
    members = sub.add_parser(
        "members",
        help="l'espace des membres : le servir (connexion ProConnect), qui en est membre, "
        "le journal des accès",
    )
    actions = members.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="servir l'édition des membres et les fichiers restreints aux membres connectés",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="sur les exports de la démo, avec un fournisseur d'identité de démonstration "
        "(comme ProConnect) et ses comptes : rien à configurer",
    )
    add = actions.add_parser("add", help="une organisation devient membre (SIREN ou SIRET)")
    add.add_argument("organisation", metavar="SIREN|SIRET")
    add.add_argument("--name", help="son nom, pour les humains")
    remove = actions.add_parser("remove", help="une organisation n'est plus membre")
    remove.add_argument("organisation", metavar="SIREN|SIRET")
    grant = actions.add_parser(
        "grant", help="accorder l'accès à une personne (adresse électronique)"
    )
    grant.add_argument("email", metavar="ADRESSE")
    grant.add_argument("--name", help="son nom, pour les humains")
    grant.add_argument(
        "--curator", action="store_true", help="avec le rôle de curateur (lit quarantine.csv)"
    )
    revoke = actions.add_parser(
        "revoke", help="retirer l'accès à une personne, effectif à sa prochaine page"
    )
    revoke.add_argument("email", metavar="ADRESSE")
    for action in (add, remove, grant, revoke):
        action.add_argument("--reason", required=True, help="pourquoi (gardé avec le changement)")
    actions.add_parser("list", help="les organisations et personnes membres, et qui l'a décidé")
    actions.add_parser(
        "requests", help="les personnes connectées sans être membres (demandes d'accès)"
    )
    journal = actions.add_parser("journal", help="qui a lu quelle page ou quel fichier, et quand")
    journal.add_argument("--email", metavar="ADRESSE", help="les lectures d'une personne")
    journal.add_argument("--limit", default="200", metavar="N", help="combien (défaut : 200)")
    for action in (serve, add, remove, grant, revoke, *actions.choices.values()):
        if not any(a.dest == "demo" for a in action._actions):
            action.add_argument("--demo", action="store_true", help="les fichiers de la démo")


def _demo_settings(settings: Settings, env: os._Environ[str] | dict[str, str]) -> Settings:
    changes: dict[str, object] = {"tally_max_requests_per_minute": 0.0}
    if not env.get("BIBIA_DB"):
        changes["db_path"] = DEMO_OUTPUT / "bibia.duckdb"
    if not env.get("BIBIA_EXPORT_DIR"):
        changes["export_dir"] = DEMO_OUTPUT / "exports"
    if not env.get("BIBIA_DECISIONS"):
        changes["decisions_path"] = DEMO_OUTPUT / "decisions.yaml"
    depots = (DEMO_OUTPUT / "depots").resolve()
    if not env.get("BIBIA_PUBLISH_SITE_REPO"):
        changes["publish_site_repo"] = (depots / "site.git").as_uri()
    if not env.get("BIBIA_PUBLISH_FEED_REPO"):
        changes["publish_feed_repo"] = (depots / "feed.git").as_uri()
    if not env.get("BIBIA_MEMBERS"):
        changes["members_path"] = DEMO_OUTPUT / "members.yaml"
    if not env.get("BIBIA_MEMBERS_JOURNAL"):
        changes["members_journal_path"] = DEMO_OUTPUT / "members-journal.sqlite"
    return settings.with_(**changes)


def _stop(signum: int, _frame: object) -> None:
    """SIGTERM (a service manager, `kill`): end the run as Ctrl-C would, rolled back."""
    raise Interrupted(
        f"stopped by {signal.Signals(signum).name}: the run was rolled back, nothing changed"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with contextlib.suppress(ValueError):  # not the main thread (a test calling main)
        signal.signal(signal.SIGTERM, _stop)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    ours = logging.getLogger("bibia")
    ours.addHandler(handler)
    ours.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    ours.propagate = False
    try:
        settings = Settings.from_env()
        if getattr(args, "demo", False):
            settings = _demo_settings(settings, os.environ)
        if args.command == "sync":
            from bibia import commands

            if args.allow_withdrawals:
                if not args.full:
                    raise ConfigError("--allow-withdrawals goes with --full")
                settings = settings.with_(allow_withdrawals=True)

            if args.demo:
                return commands.sync_demo(settings, full=args.full)
            return commands.sync(settings, full=args.full)
        if args.command == "rebuild":
            from bibia import commands

            return commands.rebuild(settings, demo=args.demo)
        if args.command == "site":
            from bibia import commands

            return commands.site(settings, everything=args.all)
        if args.command == "serve":
            from bibia import commands

            return commands.serve(
                settings, cron=args.cron, interval=args.interval, full=args.full, demo=args.demo
            )
        if args.command == "webhook":
            from bibia import webhook

            return webhook.serve(settings)
        if args.command == "curate":
            from bibia import curate

            print(_curate(curate, settings, args))
            return 0
        if args.command == "sql":
            from bibia import sql as sql_command

            print(sql_command.run(settings, args.query, as_csv=args.csv))
            return 0
        if args.command == "publish":
            from bibia import commands

            return commands.publish(settings, demo=args.demo)
        if args.command == "members":
            return _members(settings, args)
        if args.command == "status":
            from bibia import status

            held = None if args.held == "all" else _count("--held", args.held)
            runs = _count("--runs", args.runs)
            print(status.render(settings, runs=runs, held=held))
            return 0
    except BibiaError as exc:
        print(f"bibia: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bibia: interrupted: the run was rolled back, nothing changed", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or a resource gone: one line (the trace with -v), exit 1
        if args.verbose:
            logging.getLogger("bibia").exception("trace")
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"bibia: erreur inattendue ({type(exc).__name__}: {first}) ; rien n'a changé si une "
            "exécution était en cours ; `bibia -v` montre la trace",
            file=sys.stderr,
        )
        return 1
    raise ConfigError(f"unknown command {args.command}")  # argparse prevents this


def _count(option: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        also = ", or `all`" if option == "--held" else ""
        raise ConfigError(f"{option} takes a whole number of 0 or more{also} (got {text!r})")
    return value


def _members(settings: Settings, args: argparse.Namespace) -> int:
    from bibia.members import commands

    if args.action == "serve":
        if args.demo:
            from bibia.demo.members import serve_demo

            return serve_demo(settings)
        from bibia.members.serve import serve

        return serve(settings)
    if args.action == "add":
        print(commands.add(settings, args.organisation, args.name, args.reason))
    elif args.action == "remove":
        print(commands.remove(settings, args.organisation, args.reason))
    elif args.action == "grant":
        print(commands.grant(settings, args.email, args.name, args.curator, args.reason))
    elif args.action == "revoke":
        print(commands.revoke(settings, args.email, args.reason))
    elif args.action == "list":
        print(commands.listing(settings))
    elif args.action == "requests":
        print(commands.requests(settings))
    else:
        print(commands.journal(settings, args.email, _count("--limit", args.limit)))
    return 0


def _curate(curate: Any, settings: Settings, args: argparse.Namespace) -> str:
    if args.action == "correct":
        return str(
            curate.correct(settings, args.submission_id, args.field, args.values, args.reason)
        )
    if args.action == "withdraw":
        return str(curate.withdraw(settings, args.projet_id, args.reason))
    if args.action == "restore":
        return str(curate.restore(settings, args.projet_id, args.reason))
    if args.action == "revoke":
        return str(curate.revoke(settings, args.decision_id, args.reason))
    return str(curate.listing(settings, everything=args.all))


if __name__ == "__main__":
    sys.exit(main())
