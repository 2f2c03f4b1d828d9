"""Signed cookie values: what the browser keeps for the members' space (the session, a login
or a logout under way), signed with `BIBIA_SESSION_SECRET` so that it cannot be forged or
changed, bounded in time and in size, and of one kind (a login's cookie is never a session)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

MAX_COOKIE_BYTES = 4_096  # a browser keeps no more; a longer one is somebody else's
SESSION, LOGIN, LOGOUT = "session", "login", "logout"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Sign and read back cookie values with one secret (HMAC-SHA256, a key per use)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"bibia members cookie\0" + secret.encode()).digest()

    def _mac(self, kind: str, body: str) -> str:
        message = f"{kind}.{body}".encode("ascii")
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def sign(self, kind: str, values: dict[str, Any], lifetime_seconds: float) -> str:
        """The cookie's value: the values, their end (`exp`) and the kind, signed."""
        payload = {**values, "exp": int(time.time() + lifetime_seconds)}
        body = _b64(orjson.dumps(payload))
        return f"{body}.{self._mac(kind, body)}"

    def read(self, kind: str, value: str | None) -> dict[str, Any] | None:
        """The values of a cookie of this kind, or None: absent, too long, not signed by this
        secret for this kind, changed, or past its end."""
        if not value or len(value) > MAX_COOKIE_BYTES or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(kind, body)):
            return None
        try:
            payload = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            return None
        if payload["exp"] < time.time():
            return None
        return payload
