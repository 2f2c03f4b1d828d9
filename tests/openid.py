"""Loopback servers for the members' space's tests: the space itself on uvicorn in a thread, and
a forging OpenID provider that speaks the protocol (discovery, keys, authorization, token,
userinfo as a JWT) but signs whatever a test tells it to: a wrong audience, an expired token,
`alg: none`, a userinfo in JSON or signed by another key. (The real provider, node-oidc-provider,
never misbehaves: it proves the happy paths and code replay.)"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey

from bibia.emulators.loopback import POLL_SECONDS
from bibia.emulators.tally import EmulatedForm
from bibia.members.serve import application, bound_socket, uvicorn_config
from bibia.pipeline import run_job
from bibia.settings import Settings
from tests.conftest import make_settings, start_emulator

CLIENT_ID = "bibia-membres-test"
CLIENT_SECRET = "s" * 40


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Forger:
    """What the forging provider does differently from ProConnect, set by each test:
    `id_token` and `userinfo`: claims changed or added; `id_alg`: "none" for an unsigned
    id_token, "other-key" for one signed by a key the provider does not publish;
    `userinfo_as`: "jwt", "json" (not signed), "other-key" (signed by an unpublished key)."""

    identity: dict[str, Any]
    id_token: dict[str, Any] = field(default_factory=dict)
    userinfo: dict[str, Any] = field(default_factory=dict)
    id_alg: str = "RS256"
    userinfo_as: str = "jwt"
    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1"}, True))
    other: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1"}, True))
    nonces: dict[str, str] = field(default_factory=dict)  # code -> the nonce it was asked with

    def signed(self, claims: dict[str, Any], key: RSAKey | None = None, alg: str = "RS256") -> str:
        if alg == "none":
            header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        return jwt.encode({"alg": alg, "kid": "k1"}, claims, key or self.key)

    def id_token_for(self, code: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "sub-1",
            "iat": now,
            "exp": now + 60,
            "nonce": self.nonces.get(code, ""),
            "acr": "eidas1",
        } | self.id_token
        if self.id_alg == "other-key":
            return self.signed(claims, self.other)
        return self.signed(claims, alg=self.id_alg)

    def userinfo_answer(self) -> tuple[str, bytes]:
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": "sub-1"} | self.identity
        claims |= self.userinfo
        if self.userinfo_as == "json":
            return "application/json", json.dumps(claims).encode()
        key = self.other if self.userinfo_as == "other-key" else self.key
        return "application/jwt", self.signed(claims, key).encode()


class _Handler(BaseHTTPRequestHandler):
    forger: Forger

    def log_message(self, *_args: Any) -> None:
        pass

    def _send(self, status: int, kind: str, body: bytes, location: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        forger, address = self.forger, urlsplit(self.path)
        if address.path == "/.well-known/openid-configuration":
            base = forger.issuer
            found = {
                "issuer": base,
                "authorization_endpoint": f"{base}/auth",
                "token_endpoint": f"{base}/token",
                "userinfo_endpoint": f"{base}/me",
                "end_session_endpoint": f"{base}/session/end",
                "jwks_uri": f"{base}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
            self._send(200, "application/json", json.dumps(found).encode())
        elif address.path == "/jwks":
            keys = {"keys": [forger.key.as_dict(private=False)]}
            self._send(200, "application/json", json.dumps(keys).encode())
        elif address.path == "/auth":
            asked = {k: v[0] for k, v in parse_qs(address.query).items()}
            code = secrets.token_urlsafe(16)
            forger.nonces[code] = asked["nonce"]
            back = f"{asked['redirect_uri']}?{urlencode({'code': code, 'state': asked['state']})}"
            self._send(303, "text/plain", b"", back)
        elif address.path == "/me":
            kind, body = forger.userinfo_answer()
            self._send(200, kind, body)
        else:
            self._send(404, "text/plain", b"not here")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if self.path != "/token" or form.get("client_secret") != CLIENT_SECRET:
            self._send(400, "application/json", b'{"error": "invalid_client"}')
            return
        answer = {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 60,
            "id_token": self.forger.id_token_for(form.get("code", "")),
        }
        self._send(200, "application/json", json.dumps(answer).encode())


@contextmanager
def forging_provider(identity: dict[str, Any]) -> Iterator[Forger]:
    forger = Forger(identity)
    handler = type("Handler", (_Handler,), {"forger": forger})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    forger.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    serve = functools.partial(server.serve_forever, poll_interval=POLL_SECONDS)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield forger
    finally:
        server.shutdown()
        server.server_close()


def published_demo(folder: Path, data: dict[str, Any], **changes: Any) -> Settings:
    """The demo synced once into `folder`: its members' edition and restricted downloads."""
    server = start_emulator(EmulatedForm.from_json(copy.deepcopy(data)))
    try:
        settings = make_settings(folder, server.url, **changes)
        run_job(settings, "sync")
        return settings
    finally:
        server.stop()


def members_settings(settings: Settings, discovery_url: str, port: int, **more: Any) -> Settings:
    """`settings` (a published demo) with a members' space on loopback `port`."""
    return settings.with_(
        proconnect_discovery_url=discovery_url,
        proconnect_client_id=CLIENT_ID,
        proconnect_client_secret=CLIENT_SECRET,
        members_url=f"http://127.0.0.1:{port}",
        session_secret="t" * 40,
        members_port=port,
        **more,
    )


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The members' space of these settings on uvicorn in a thread; yields its address."""
    app, space = application(settings)
    sock = bound_socket(settings.members_host, settings.members_port)
    server = uvicorn.Server(uvicorn_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield space.base_url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def login(client: httpx.Client, base: str, path: str = "/site/") -> httpx.Response:
    """Log in through whatever provider the space uses that needs no form (the forger), from
    `path`: the last answer, redirects followed."""
    return client.get(f"{base}/connexion", params={"next": path}, follow_redirects=True)


def through_provider(
    client: httpx.Client,
    base: str,
    account: str,
    path: str = "/site/",
    stop_at_return: bool = False,
) -> httpx.Response:
    """Log in through the real provider's form (node-oidc-provider) as `account`, from `path`:
    the last answer (or, `stop_at_return`, the provider's redirect back to the space, not
    followed)."""
    answer = client.get(f"{base}/connexion", params={"next": path})
    answer = client.get(answer.headers["location"], follow_redirects=True)
    action = re.search(r'action="([^"]+)"', answer.text)
    assert action is not None, answer.text[:500]
    answer = client.post(answer.url.join(action.group(1)), data={"login": account})
    while answer.status_code in (302, 303):
        target = answer.url.join(answer.headers["location"])
        if stop_at_return and str(target).startswith(f"{base}/connexion/retour"):
            return answer
        answer = client.get(target)
    return answer
