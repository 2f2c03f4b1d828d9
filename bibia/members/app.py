"""The members' space as an ASGI application (Starlette): the members' edition of the site and
the restricted downloads, to people logged in with ProConnect whom the membership lets in.

Every request of a page or a file reads the session cookie (signed, bounded in time), asks the
membership file as it is now (a revocation takes effect at the next request, whatever the
session), serves the file only from the edition's folder, and writes a line in the journal.
Every answer carries the same protective headers; every failure is a French page."""

from __future__ import annotations

import html
import logging
import mimetypes
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bibia.members.cookies import LOGIN, LOGOUT, SESSION, Signer
from bibia.members.journal import Journal
from bibia.members.proconnect import Identity, LoginRefused, ProConnect
from bibia.members.watch import MembershipWatch
from transforms.membership import Access

log = logging.getLogger("bibia.members")
STATIC = Path(__file__).resolve().parent / "static"
LOGIN_SECONDS = 600.0  # a login begun must come back within this
STATE_BYTES = 32  # `state` and `nonce`: 43 random characters each (ProConnect: 32 or more)
CURATORS_ONLY = frozenset({"quarantine.csv"})  # contributors' addresses and reasons held
HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' https: data:; script-src 'self'; "
        b"style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'; object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-robots-tag", b"noindex, nofollow"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"private, no-store"),
]
MAX_HEADER_BYTES = 16_384  # a request's headers, cookies included
BODY_TAG = re.compile(rb"<body[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Space:
    """What the members' space is made of (built by `bibia.members.serve`)."""

    root: Path  # the restricted export: its `site/` and its downloads
    base_url: str  # BIBIA_MEMBERS_URL, without its trailing slash
    proconnect: ProConnect
    signer: Signer
    session_seconds: float
    secure_cookies: bool
    membership: MembershipWatch
    journal: Journal


class Guarded:
    """ASGI middleware: the protective headers on every answer (redirects and errors too), and
    a request whose headers pass `MAX_HEADER_BYTES` refused at the door (431)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = self.app
        if sum(len(k) + len(v) for k, v in scope.get("headers", [])) > MAX_HEADER_BYTES:
            app = page(
                "En-têtes trop longs",
                "<p>Cette requête porte des en-têtes (des cookies ?) trop longs : effacez les "
                "cookies de ce site et recommencez.</p>",
                431,
            )

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + HEADERS
            await send(message)

        await app(scope, receive, guarded)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A page of the members' space itself (not of the edition), in French."""
    return HTMLResponse(
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)} · Bibliothèque d'IA territoriales</title>"
        '<link rel="stylesheet" href="/_membres/membres.css"></head><body>'
        '<main class="membres-page"><p class="membres-marque">Bibliothèque d\'IA '
        f"territoriales · espace des membres</p><h1>{html.escape(title)}</h1>{body}</main>"
        "</body></html>",
        status_code=status,
    )


def local_path(text: str | None) -> str:
    """A return address: a path of this site only (`/...`, never `//host` nor `/\\host`)."""
    if not text or not text.startswith("/") or text.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 32 or c == "\\" for c in text):
        return "/"
    return text


class Handlers:
    """The members' space's answers. Besides `space`, it remembers two things in memory: the
    sessions ended by a logout (until they would have ended), and the logins' states already
    come back (a login comes back once)."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.ended: dict[str, float] = {}  # sid -> when it would have ended
        self.used_states: dict[str, float] = {}  # state -> when its login would have expired

    @staticmethod
    def forget_old(table: dict[str, float]) -> None:
        now = time.time()
        for key in [k for k, until in table.items() if until < now]:
            del table[key]

    def session_of(self, request: Request) -> dict[str, Any] | None:
        session = self.space.signer.read(SESSION, request.cookies.get(SESSION))
        if session is None or session.get("sid") in self.ended:
            return None
        return session

    def set_cookie(
        self, response: Response, name: str, value: str, seconds: float, path: str
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=int(seconds),
            path=path,
            httponly=True,
            secure=self.space.secure_cookies,
            samesite="lax",
        )

    def begin(self, response: Response, kind: str, values: dict[str, Any], path: str) -> None:
        """A login or a logout under way: its `state` (and more) in a short-lived cookie."""
        cookie = self.space.signer.sign(kind, values, LOGIN_SECONDS)
        self.set_cookie(response, kind, cookie, LOGIN_SECONDS, path)

    def begun(self, request: Request, kind: str) -> dict[str, Any] | None:
        """What the login or logout under way kept, when the `state` coming back is its own."""
        kept = self.space.signer.read(kind, request.cookies.get(kind))
        state = request.query_params.get("state", "")
        if kept is None or not secrets.compare_digest(str(kept.get("state")), state):
            return None
        return kept

    async def login(self, request: Request) -> Response:
        state, nonce = secrets.token_urlsafe(STATE_BYTES), secrets.token_urlsafe(STATE_BYTES)
        back = local_path(request.query_params.get("next"))
        try:
            url = await self.space.proconnect.authorization_url(state, nonce)
        except LoginRefused as exc:
            return page("Connexion impossible", f"<p>{html.escape(str(exc))}</p>", 503)
        response = RedirectResponse(url, status_code=303)
        self.begin(response, LOGIN, {"state": state, "nonce": nonce, "next": back}, "/connexion")
        return response

    async def login_back(self, request: Request) -> Response:
        begun = self.begun(request, LOGIN)
        state = request.query_params.get("state", "")
        if begun is None:
            return _again("Cette connexion n'a pas été commencée ici, ou a expiré.", 400)
        self.forget_old(self.used_states)
        if state in self.used_states:
            return _again("Cette connexion a déjà servi.", 400)
        self.used_states[state] = time.time() + LOGIN_SECONDS
        if request.query_params.get("error"):
            reason = request.query_params.get("error_description") or request.query_params["error"]
            return _again(f"ProConnect n'a pas accordé la connexion : {reason[:200]}.", 403)
        code = request.query_params.get("code", "")
        if not code or len(code) > 2_048:
            return _again("ProConnect n'a pas donné de code de connexion.", 400)
        try:
            identity = await self.space.proconnect.identity(code, str(begun["nonce"]))
        except LoginRefused as exc:
            log.info("connexion refusée : %s", exc)
            return _again(f"Connexion refusée : {exc}.", 403)
        response = RedirectResponse(local_path(str(begun.get("next"))), status_code=303)
        response.delete_cookie(LOGIN, path="/connexion")
        values = _session_values(identity)
        cookie = self.space.signer.sign(SESSION, values, self.space.session_seconds)
        self.set_cookie(response, SESSION, cookie, self.space.session_seconds, "/")
        access = self.space.membership.access(identity.email, identity.siret)
        if not access.allowed:
            self.space.journal.request(
                identity.email, identity.given_name, identity.usual_name, identity.siret
            )
        log.info("connexion : %s (%s)", identity.email, access.why)
        return response

    async def logout(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is None:
            return RedirectResponse("/deconnexion/fin", status_code=303)
        self.forget_old(self.ended)
        self.ended[str(session["sid"])] = float(session["exp"])
        state = secrets.token_urlsafe(STATE_BYTES)
        try:
            url = await self.space.proconnect.logout_url(
                str(session["id_token"]), state, f"{self.space.base_url}/deconnexion/retour"
            )
        except LoginRefused:
            url = None
        response = RedirectResponse(url or "/deconnexion/fin", status_code=303)
        response.delete_cookie(SESSION, path="/")
        self.begin(response, LOGOUT, {"state": state}, "/deconnexion")
        return response

    async def logout_back(self, request: Request) -> Response:
        if self.begun(request, LOGOUT) is None:
            return page(
                "Déconnexion inattendue",
                "<p>Ce retour de ProConnect ne correspond à aucune déconnexion commencée ici. "
                "Votre session dans l'espace des membres est, elle, terminée si vous l'aviez "
                'quittée.</p><p><a href="/connexion">Se connecter</a></p>',
                400,
            )
        response = RedirectResponse("/deconnexion/fin", status_code=303)
        response.delete_cookie(LOGOUT, path="/deconnexion")
        return response

    async def logged_out(self, _request: Request) -> Response:
        return page(
            "Vous êtes déconnecté·e",
            "<p>Votre session dans l'espace des membres est terminée.</p>"
            '<p><a href="/connexion">Se connecter de nouveau</a></p>',
        )

    async def edition(self, request: Request) -> Response:
        session = self.session_of(request)
        target = request.url.path
        if session is None:
            return RedirectResponse(f"/connexion?next={quote(target, safe='/')}", status_code=303)
        email, siret = str(session["email"]), session.get("siret")
        access = self.space.membership.access(email, siret)
        found, relative = _file_of(self.space.root, request.path_params.get("path", ""))
        if not access.allowed:
            answer = _not_a_member(session, access, self.space.membership.contact())
        elif found is None:
            answer = page("Page introuvable", '<p><a href="/site/">Accueil</a></p>', 404)
        elif relative in CURATORS_ONLY and not access.curator:
            answer = page(
                "Réservé aux curateurs",
                "<p>Ce fichier contient les coordonnées des contributeurs dont la soumission "
                "attend : seuls les curateurs et curatrices le lisent.</p>",
                403,
            )
        elif found.suffix == ".html":
            answer = _with_bar(found, session)
        else:
            kind = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
            answer = FileResponse(found, media_type=kind)
        self.space.journal.read(email, siret, relative or target, answer.status_code)
        return answer

    async def home(self, _request: Request) -> Response:
        return RedirectResponse("/site/", status_code=303)

    async def stylesheet(self, _request: Request) -> Response:
        return FileResponse(STATIC / "membres.css", media_type="text/css")

    async def not_found(self, _request: Request, _exc: Exception) -> Response:
        return page("Page introuvable", '<p><a href="/site/">Accueil</a></p>', 404)

    async def refused(self, _request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return page("Requête refusée", f"<p>HTTP {status}.</p>", status)

    async def failed(self, _request: Request, exc: Exception) -> Response:
        log.error(
            "espace des membres : %s : %s",
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )
        return page(
            "Erreur de l'espace des membres",
            "<p>Une erreur est survenue ; elle est notée. Réessayez dans un moment.</p>",
            500,
        )


def create_app(space: Space) -> Starlette:
    """The application: login, logout, and the edition behind them."""
    handle = Handlers(space)
    errors: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        404: handle.not_found,
        HTTPException: handle.refused,
        Exception: handle.failed,
    }
    app = Starlette(
        routes=[
            Route("/connexion", handle.login),
            Route("/connexion/retour", handle.login_back),
            Route("/deconnexion", handle.logout),
            Route("/deconnexion/retour", handle.logout_back),
            Route("/deconnexion/fin", handle.logged_out),
            Route("/_membres/membres.css", handle.stylesheet),
            Route("/", handle.home),
            Route("/{path:path}", handle.edition, methods=["GET", "HEAD"]),
        ],
        exception_handlers=errors,
    )
    app.add_middleware(Guarded)
    return app


def _again(why: str, status: int) -> HTMLResponse:
    return page(
        "Connexion impossible",
        f'<p>{html.escape(why)}</p><p><a href="/connexion">Recommencer la connexion</a></p>',
        status,
    )


def _session_values(identity: Identity) -> dict[str, Any]:
    return {
        "sid": secrets.token_urlsafe(16),  # a new session at each login
        "email": identity.email,
        "siret": identity.siret,
        "given_name": identity.given_name,
        "usual_name": identity.usual_name,
        "id_token": identity.id_token,
        "at": int(time.time()),
    }


def _file_of(root: Path, path: str) -> tuple[Path | None, str]:
    """The file of the edition a path names (a folder: its `index.html`), and the path as the
    journal writes it; None for anything outside the edition (`..`, a link leading out)."""
    parts = [part for part in path.split("/") if part]
    if any(part in {".", ".."} or "\\" in part or "\0" in part for part in parts):
        return None, path
    base = root.resolve()
    found = base.joinpath(*parts).resolve() if parts else base
    if not found.is_relative_to(base):
        return None, path
    if found.is_dir():
        found = found / "index.html"
    if not found.is_file() or found.name.startswith("."):
        return None, path
    return found, found.relative_to(base).as_posix()


def _with_bar(found: Path, session: dict[str, Any]) -> Response:
    """An edition's page with the bar that says who is logged in and how to log out."""
    who = " ".join(str(n) for n in (session.get("given_name"), session.get("usual_name")) if n)
    bar = (
        '<link rel="stylesheet" href="/_membres/membres.css">'
        '<nav class="membres-barre" aria-label="Espace des membres">'
        f"<span>Espace des membres · {html.escape(who or str(session['email']))}</span> "
        '<a href="/deconnexion">Se déconnecter</a></nav>'
    ).encode()
    content = found.read_bytes()
    match = BODY_TAG.search(content)
    if match is not None:
        content = content[: match.end()] + bar + content[match.end() :]
    return Response(content, media_type="text/html; charset=utf-8")


def _not_a_member(session: dict[str, Any], access: Access, contact: str | None) -> Response:
    ask = (
        f"écrivez à <strong>{html.escape(contact)}</strong>"
        if contact
        else "écrivez à l'association des Interconnectés"
    )
    siret = session.get("siret")
    organisation = f" (SIRET {html.escape(str(siret))})" if siret else ""
    return page(
        "Accès réservé aux membres",
        f"<p>Vous êtes connecté·e en tant que {html.escape(str(session['email']))}"
        f"{organisation}, mais cet espace est réservé aux agents, élus et membres des "
        f"Interconnectés : {html.escape(access.why)}.</p>"
        f"<p>Pour demander un accès, {ask}. Votre demande est notée pour les curateurs.</p>"
        '<p><a href="/deconnexion">Se déconnecter</a></p>',
        403,
    )
