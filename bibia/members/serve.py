"""`bibia members serve`: the members' space on uvicorn, its settings checked first (one line,
exit 2, before anything is served)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette

from bibia.members.app import Space, create_app
from bibia.members.cookies import Signer
from bibia.members.journal import Journal
from bibia.members.proconnect import ProConnect
from bibia.members.watch import MembershipWatch
from bibia.settings import Settings
from schemas.errors import ConfigError
from warehouse.db import owner_only

log = logging.getLogger("bibia.members")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def edition_root(settings: Settings) -> Path:
    """The restricted export: the members' edition (`site/`) and the restricted downloads."""
    root = settings.export_dir / "restricted"
    if not (root / "site" / "index.html").is_file():
        raise ConfigError(
            f"l'édition des membres n'est pas encore publiée dans {root / 'site'} : lancer "
            "`bibia sync` d'abord"
        )
    return root


def build_space(settings: Settings, http: httpx.AsyncClient) -> Space:
    """The members' space these settings describe (each checked: a `ConfigError` otherwise)."""
    settings.require_members()
    assert settings.members_url and settings.session_secret  # checked just above
    assert settings.proconnect_discovery_url and settings.proconnect_client_id
    assert settings.proconnect_client_secret
    address = urlsplit(settings.members_url)
    secure = address.scheme == "https"
    if not secure and not is_loopback(address.hostname or ""):
        raise ConfigError(
            f"BIBIA_MEMBERS_URL doit être en https (sauf sur la boucle locale), pas "
            f"{settings.members_url}"
        )
    root = edition_root(settings)
    with owner_only():
        journal = Journal(settings.members_journal, settings.members_journal_days)
    return Space(
        root=root,
        base_url=settings.members_url,
        proconnect=ProConnect(
            settings.proconnect_discovery_url,
            settings.proconnect_client_id,
            settings.proconnect_client_secret,
            f"{settings.members_url}/connexion/retour",
            settings.proconnect_acr or None,
            http,
        ),
        signer=Signer(settings.session_secret),
        session_seconds=settings.session_hours * 3_600,
        secure_cookies=secure,
        membership=MembershipWatch(settings.members_path),
        journal=journal,
    )


def bound_socket(host: str, port: int) -> socket.socket:
    """The listening socket, opened before anything is served: a port taken is one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"impossible d'écouter sur {host}:{port} ({exc.strerror}) : BIBIA_MEMBERS_HOST et "
            "BIBIA_MEMBERS_PORT"
        ) from None
    sock.listen(2_048)
    return sock


def application(settings: Settings) -> tuple[Starlette, Space]:
    http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
    space = build_space(settings, http)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await http.aclose()
            space.journal.close()

    app = create_app(space)
    app.router.lifespan_context = lifespan
    return app, space


def uvicorn_config(app: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        server_header=False,
        date_header=True,
        proxy_headers=False,
        h11_max_incomplete_event_size=16_384,  # a request's line and headers: 16 KiB at most
        timeout_keep_alive=5,
        limit_concurrency=1_000,
    )


def run(app: Starlette, sock: socket.socket) -> None:
    """Serve until stopped (Ctrl-C, SIGTERM), on a socket already listening."""
    server = uvicorn.Server(uvicorn_config(app))
    if threading.current_thread() is threading.main_thread():
        # uvicorn stops gracefully on SIGINT/SIGTERM, then raises the signal again for the
        # handler it found: nothing more to do then (the run's handlers say "rolled back")
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, lambda *_: None)
    asyncio.run(server.serve(sockets=[sock]))
    print("espace des membres arrêté", flush=True)


def serve(settings: Settings) -> int:
    app, space = application(settings)
    sock = bound_socket(settings.members_host, settings.members_port)
    print(
        f"espace des membres : {space.base_url}/ (écoute sur {settings.members_host}:"
        f"{settings.members_port}) ; édition servie : {space.root} ; membres : "
        f"{settings.members_path} ; journal : {settings.members_journal} "
        f"(gardé {settings.members_journal_days:g} jours)",
        flush=True,
    )
    run(app, sock)
    return 0
