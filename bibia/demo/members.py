"""`bibia members serve --demo`: the members' space on the demo's exports, with a real OpenID
provider on loopback set up as ProConnect (node-oidc-provider) and the demo's accounts. Nothing
to configure: the demo's membership file is written once, the session secret is drawn at each
start."""

from __future__ import annotations

import secrets
from typing import Any

from bibia.emulators.openid import Client, OpenIdProvider
from bibia.members import serve as members
from bibia.settings import Settings
from schemas.files import write_atomically
from schemas.times import seconds_z

DEMO_SIREN = "219900001"  # the member authority (fictional): every establishment of it
DEMO_SIRET = "21990000100017"
OTHER_SIRET = "21990000200015"  # an authority that is not a member
PROVIDER_CLIENT = "bibia-membres-demo"


def _claims(email: str, given: str, usual: str, siret: str, uid: str) -> dict[str, Any]:
    return {
        "email": email,
        "given_name": given,
        "usual_name": usual,
        "uid": uid,
        "siret": siret,
        "siren": siret[:9],
        "idp_id": "proconnect-identite-demo",
        "belonging_population": "agent",
    }


# the demo's accounts: login (an e-mail) -> what ProConnect would say of them
ACCOUNTS = {
    "agente@demo-commune.fr": _claims(
        "agente@demo-commune.fr", "Camille", "Martin", DEMO_SIRET, "1001"
    ),
    "visiteur@autre-collectivite.fr": _claims(
        "visiteur@autre-collectivite.fr", "Dominique", "Petit", OTHER_SIRET, "1002"
    ),
    "ancien.agent@demo-commune.fr": _claims(
        "ancien.agent@demo-commune.fr", "Alex", "Durand", DEMO_SIRET, "1003"
    ),
    "curatrice@interconnectes.fr": _claims(
        "curatrice@interconnectes.fr", "Sacha", "Bernard", OTHER_SIRET, "1004"
    ),
}
ROLES = {
    "agente@demo-commune.fr": "membre (sa commune, SIREN 219900001, est membre)",
    "visiteur@autre-collectivite.fr": "non membre (sa collectivité ne l'est pas)",
    "ancien.agent@demo-commune.fr": "accès retiré (même commune, révoqué par une curatrice)",
    "curatrice@interconnectes.fr": "curatrice (lit aussi quarantine.csv)",
}


def membership_text() -> str:
    """The demo's membership file: one member authority, a revoked person, a curator."""
    at = seconds_z(__import__("datetime").datetime(2026, 1, 5, 9, 0))
    changes = [
        ("m-demo-1", "add", DEMO_SIREN, "Commune de Démo", None, "adhésion 2026"),
        ("m-demo-2", "grant", "curatrice@interconnectes.fr", "Sacha Bernard", True, "curatrice"),
        ("m-demo-3", "revoke", "ancien.agent@demo-commune.fr", None, None, "a quitté la commune"),
    ]
    lines = [
        "# Qui peut lire l'édition des membres (la démo : `bibia members serve --demo`).",
        "contact: contact@interconnectes.example",
        "changes:",
    ]
    for change_id, action, target, name, curator, reason in changes:
        lines += [f"- change_id: {change_id}", f"  action: {action}", f"  target: '{target}'"]
        if name:
            lines.append(f"  name: {name}")
        if curator:
            lines.append("  curator: true")
        lines += ["  by: démo", f"  at: '{at}'", f"  reason: {reason}"]
    return "\n".join(lines) + "\n"


def demo_settings(settings: Settings, provider_discovery: str, secret: str) -> Settings:
    base = f"http://{settings.members_host}:{settings.members_port}"
    return settings.with_(
        proconnect_discovery_url=provider_discovery,
        proconnect_client_id=PROVIDER_CLIENT,
        proconnect_client_secret=secret,
        members_url=base,
        session_secret=secrets.token_urlsafe(32),
    )


def provider_for(settings: Settings, secret: str) -> OpenIdProvider:
    base = f"http://{settings.members_host}:{settings.members_port}"
    client = Client(
        PROVIDER_CLIENT,
        secret,
        [f"{base}/connexion/retour"],
        [f"{base}/deconnexion/retour"],
    )
    return OpenIdProvider([client], ACCOUNTS, acr=settings.proconnect_acr or "eidas1")


def serve_demo(settings: Settings) -> int:
    """The demo's exports made first when missing, its membership file written once, then
    served until stopped."""
    from bibia import commands

    if not (settings.export_dir / "restricted" / "site" / "index.html").is_file():
        commands.sync_demo(settings)
    if not settings.members_path.exists():
        write_atomically(settings.members_path, membership_text())
    sock = members.bound_socket(settings.members_host, settings.members_port)
    settings = settings.with_(members_port=sock.getsockname()[1])
    secret = secrets.token_urlsafe(32)
    with provider_for(settings, secret) as provider:
        settings = demo_settings(settings, provider.discovery_url, secret)
        app, space = members.application(settings)
        accounts = "\n".join(f"  {login} : {ROLES[login]}" for login in ACCOUNTS)
        print(
            f"espace des membres (démo) : {space.base_url}/\n"
            f"fournisseur d'identité de démonstration (comme ProConnect) : {provider.issuer}\n"
            f"comptes (saisir l'adresse, sans mot de passe) :\n{accounts}\n"
            f"membres : {settings.members_path} ; journal : {settings.members_journal}\n"
            "Ctrl-C pour arrêter",
            flush=True,
        )
        members.run(app, sock)
    return 0
