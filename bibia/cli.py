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

from bibia import __version__, french
from bibia.settings import Settings
from schemas.errors import BibiaError, ConfigError, Interrupted

log = logging.getLogger("bibia")
DEMO_OUTPUT = Path("demo-output")
DEMO_SENDER = "Bibliothèque d'IA territoriales <bibliotheque@interconnectes.invalid>"
DEMO_CURATORS = "Curateurs de la bibliothèque <curateurs@interconnectes.invalid>"


def _parser() -> argparse.ArgumentParser:
    french.install()
    parser = argparse.ArgumentParser(
        prog="bibia",
        description="Bibliothèque d'IA territoriales : formulaire Tally -> DuckDB -> exports, "
        "site, flux et livraisons.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="plus de détails (durées, mémoire, trace d'une erreur)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"bibia {__version__}",
        help="afficher la version de bibia et quitter",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE")
    sync = sub.add_parser(
        "sync",
        help="récupérer les nouvelles soumissions, normaliser, valider, charger, exporter, publier",
    )
    sync.add_argument("--full", action="store_true", help="relire toutes les soumissions")
    sync.add_argument(
        "--allow-withdrawals",
        action="store_true",
        help="avec --full : retirer ce que Tally ne liste plus, même au-delà de "
        "BIBIA_MAX_WITHDRAWAL_SHARE du registre (des suppressions que vous savez réelles)",
    )
    sync.add_argument(
        "--demo",
        action="store_true",
        help="sur le formulaire de démonstration fourni, servi en local (aucune clé)",
    )
    rebuild = sub.add_parser(
        "rebuild", help="refaire toutes les tables et les exports depuis les soumissions brutes"
    )
    rebuild.add_argument("--demo", action="store_true", help="l'entrepôt de la démo")
    site = sub.add_parser(
        "site",
        help="refaire le site (éditions publique et des membres) et le flux du site actuel "
        "depuis les exports publiés (une synchronisation le fait quand ses exports changent)",
    )
    site.add_argument(
        "--all",
        action="store_true",
        help="refaire la page de chaque projet, même celles faites des mêmes données",
    )
    site.add_argument("--demo", action="store_true", help="les exports de la démo")
    serve = sub.add_parser(
        "serve", help="lancer la synchronisation selon un calendrier, par un serveur Prefect"
    )
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help='expression cron, par exemple "0 * * * *"')
    when.add_argument(
        "--interval",
        metavar="SECONDES",
        type=float,
        help="le nombre de secondes entre deux exécutions",
    )
    serve.add_argument("--full", action="store_true", help="les exécutions prévues relisent tout")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="la démo : son formulaire et les API publiques émulées ici, aucune clé",
    )
    _tool_parsers(sub)
    _curate_parser(sub)
    _mail_parser(sub)
    _members_parser(sub)
    return parser


def _tool_parsers(sub: Any) -> None:
    """`bibia sql`, `publish`, `webhook` and `status`."""
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
        help="recevoir les événements signés du webhook de Tally (TALLY_WEBHOOK_SECRET) et "
        "demander une exécution après chaque salve ; les synchronisations prévues restent le "
        "filet de sécurité",
    )
    status = sub.add_parser(
        "status",
        help="dernières exécutions, quarantaine, livraisons et fraîcheur des exports",
    )
    status.add_argument(
        "--runs", default="10", metavar="N", help="combien d'exécutions montrer (défaut : 10)"
    )
    status.add_argument(
        "--held",
        default="20",
        metavar="N|all",
        help="combien de soumissions retenues lister, les plus récentes d'abord (défaut : 20 ; "
        "all : toutes)",
    )
    status.add_argument(
        "--details",
        action="store_true",
        help="aussi les avertissements, les projets retirés et les soumissions remplacées",
    )
    status.add_argument("--demo", action="store_true", help="l'entrepôt de la démo")


def _curate_parser(sub: Any) -> None:
    """`bibia curate` and its actions."""
    curate = sub.add_parser(
        "curate",
        help="décisions des curateurs : corriger une soumission, retirer ou rétablir un projet",
    )
    actions = curate.add_subparsers(dest="action", required=True, metavar="ACTION")
    correct = actions.add_parser("correct", help="fixer un champ d'une soumission")
    correct.add_argument("submission_id", help="la soumission (son identifiant Tally)")
    correct.add_argument(
        "field", metavar="champ", help="le champ, par son nom (coll_type, theme...)"
    )
    correct.add_argument(
        "values", nargs="+", metavar="VALEUR", help="plusieurs pour un champ à plusieurs valeurs"
    )
    withdraw = actions.add_parser("withdraw", help="retirer un projet des deux exports")
    withdraw.add_argument("projet_id", help="le projet (p-... : `bibia status` les montre)")
    restore = actions.add_parser("restore", help="rétablir un projet retiré")
    restore.add_argument("projet_id", help="le projet retiré")
    revoke = actions.add_parser("revoke", help="mettre fin à une correction")
    revoke.add_argument("decision_id", help="la décision (c-... : `bibia curate list`)")
    for action in (correct, withdraw, restore, revoke):
        action.add_argument("--reason", required=True, help="pourquoi (gardé avec la décision)")
    listed = actions.add_parser("list", help="les décisions en vigueur et leur état")
    listed.add_argument("--all", action="store_true", help="les décisions terminées aussi")
    for action in (correct, withdraw, restore, revoke, listed):
        action.add_argument("--demo", action="store_true", help="l'entrepôt de la démo")


def _mail_parser(sub: Any) -> None:
    """`bibia mail`: the messages to contributors and curators."""
    mail = sub.add_parser(
        "mail",
        help="les messages aux contributeurs et aux curateurs : envoyer ce qui attend, ne plus "
        "écrire à une adresse",
    )
    actions = mail.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "send", help="envoyer maintenant les messages en attente (sans attendre une exécution)"
    )
    stop = actions.add_parser(
        "stop",
        help="ne plus écrire à une adresse (un contributeur qui l'a demandé) : ajoutée à "
        "BIBIA_MAIL_OPTOUTS",
    )
    stop.add_argument("address", metavar="ADRESSE", help="l'adresse électronique")
    for action in actions.choices.values():
        action.add_argument("--demo", action="store_true", help="l'entrepôt de la démo")


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
        action.add_argument(
            "--reason", required=True, metavar="MOTIF", help="pourquoi (gardé avec le changement)"
        )
    actions.add_parser("list", help="les organisations et personnes membres, et qui l'a décidé")
    actions.add_parser(
        "requests", help="les personnes connectées sans être membres (demandes d'accès)"
    )
    journal = actions.add_parser("journal", help="qui a lu quelle page ou quel fichier, et quand")
    journal.add_argument("--email", metavar="ADRESSE", help="les lectures d'une personne")
    journal.add_argument(
        "--limit", default="200", metavar="N", help="combien de lectures montrer (défaut : 200)"
    )
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
    if not env.get("BIBIA_MAIL"):  # the demo's messages as .eml files a newcomer opens
        exports = changes.get("export_dir", settings.export_dir)
        site = (Path(str(exports)) / "public" / "site").resolve()
        changes |= {
            "mail_mode": "log",
            "mail_folder": DEMO_OUTPUT / "mail",
            "mail_from": settings.mail_from or DEMO_SENDER,
            "curators_email": settings.curators_email or DEMO_CURATORS,
            "site_url": settings.site_url or site.as_uri(),
            "mail_optouts_path": DEMO_OUTPUT / "mail-optouts.txt",
        }
    return settings.with_(**changes)


def _stop(signum: int, _frame: object) -> None:
    """SIGTERM (a service manager, `kill`): end the run as Ctrl-C would, rolled back."""
    raise Interrupted(
        f"arrêté par {signal.Signals(signum).name} : l'exécution a été annulée, rien n'a changé"
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
        return _dispatch(settings, args)
    except BibiaError as exc:
        print(f"bibia: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bibia: interrompu : l'exécution a été annulée, rien n'a changé", file=sys.stderr)
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


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    """The command asked for, with these settings."""
    if args.command == "sync":
        from bibia import commands

        if args.allow_withdrawals:
            if not args.full:
                raise ConfigError("--allow-withdrawals ne va qu'avec --full")
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
    if args.command == "mail":
        from bibia import commands

        return commands.mail(settings, args.action, getattr(args, "address", None))
    if args.command == "status":
        from bibia import status

        held = None if args.held == "all" else _count("--held", args.held)
        runs = _count("--runs", args.runs)
        print(status.render(settings, runs=runs, held=held, more=args.details))
        return 0
    raise ConfigError(f"commande inconnue : {args.command}")  # argparse prevents this


def _count(option: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        also = ", ou `all`" if option == "--held" else ""
        raise ConfigError(f"{option} prend un nombre entier de 0 ou plus{also}, pas {text!r}")
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
