"""GET with pacing, timeouts and retries, shared by the Tally client and the enrichment client.

Retries: 429 (honouring `Retry-After`, in seconds or as an HTTP date), 5xx, dropped
connections, truncated bodies and timeouts, with exponential backoff and full jitter. Any other
answer is handed back to the caller, which knows what it means.

Time bounds that hold: the timeout covers the whole answer (a body trickled a byte at a time
does not extend it); a `Retry-After` longer than MAX_RETRY_AFTER_SECONDS gives up at once
instead of waiting; a refused connection (nothing listening) is retried twice, not six times.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import urllib3

log = logging.getLogger("bibia.http")

MAX_RETRY_AFTER_SECONDS = 120.0
REFUSED_RETRIES = 2  # nothing listens at the address: a typo or a service down, not a blip
CHUNK = 65_536
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class Pacer:
    """At most `per_minute` requests a minute, spaced evenly (0 turns pacing off)."""

    def __init__(
        self,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            if now < self._next:
                self.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN: as if absent
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class GaveUp(Exception):
    """The service kept failing (429, 5xx, no connection) through every retry."""

    def __init__(self, attempts: int, problem: str) -> None:
        super().__init__(f"{attempts} essais, le dernier : {problem}")
        self.attempts, self.problem = attempts, problem


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read whole within its deadline."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class TooSlow(Exception):
    """The answer took longer than the timeout, as a whole."""


class PacedSession:
    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str],
        per_minute: float,
        timeout: float,
        max_retries: int,
        backoff_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        label: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout, self.max_retries = timeout, max_retries
        self.backoff_seconds, self.sleep = backoff_seconds, sleep
        self.label = label
        self.pacer = Pacer(per_minute, sleep=sleep)
        self.requests_made = 0
        self.retries = 0
        self.session = requests.Session()
        self.session.headers.update(headers)

    def close(self) -> None:
        self.session.close()

    def backoff(self, attempt: int) -> float:
        base = self.backoff_seconds * (2**attempt)
        return min(base + random.uniform(0, base), 120.0)  # full jitter on top of the base

    def get(self, path: str, params: dict[str, Any] | None, what: str) -> Answer:
        """The first answer that is not worth retrying; `GaveUp` when none came."""
        url = f"{self.base_url}{path}"
        problem = ""
        refused = 0
        attempts = 0
        for attempt in range(self.max_retries + 1):
            self.pacer.wait()
            self.requests_made += 1
            attempts += 1
            try:
                response = self._read(url, params)
            except (requests.ConnectionError, requests.Timeout, TooSlow) as exc:
                if _refused(exc):
                    refused += 1
                    problem = "connexion refusée (l'adresse est-elle juste, le service en marche ?)"
                    if refused > REFUSED_RETRIES:
                        break
                else:
                    problem = f"connexion impossible ({type(exc).__name__})"
                delay = self.backoff(attempt)
            except requests.RequestException as exc:  # a body cut short, a bad redirect...
                problem = f"réponse cassée ({type(exc).__name__})"
                delay = self.backoff(attempt)
            else:
                if response.status_code not in RETRYABLE_STATUS:
                    return response
                problem = f"HTTP {response.status_code}"
                told = retry_after_seconds(response.headers.get("Retry-After"))
                if told is not None and told > MAX_RETRY_AFTER_SECONDS:
                    problem += f", attente demandée de {told:.0f} s (Retry-After) : pas attendu"
                    break
                delay = self.backoff(attempt) if told is None else told
            if attempt == self.max_retries:
                break
            self.retries += 1
            log.warning(
                "%s %s : %s, nouvel essai %d dans %.1f s",
                self.label,
                what,
                problem,
                attempt + 1,
                delay,
            )
            self.sleep(delay)
        raise GaveUp(attempts, problem)

    def _read(self, url: str, params: dict[str, Any] | None) -> Answer:
        """One GET, its body read whole before `timeout` seconds have passed since it began."""
        deadline = time.monotonic() + self.timeout
        with self.session.get(url, params=params, timeout=self.timeout, stream=True) as response:
            chunks = []
            try:
                # read1: what has arrived (a read of CHUNK bytes would wait for all of them,
                # a byte a second never timing out)
                while chunk := response.raw.read1(CHUNK, decode_content=True):
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise TooSlow(f"la réponse a pris plus de {self.timeout:g} s")
            except (urllib3.exceptions.HTTPError, OSError) as exc:  # cut short, reset...
                raise requests.ConnectionError(f"la réponse s'est interrompue ({exc})") from exc
            return Answer(response.status_code, response.headers, b"".join(chunks))


def _refused(exc: BaseException) -> bool:
    """Whether nothing listened at the address (as opposed to a connection that dropped):
    requests wraps urllib3's error, which wraps the socket's."""
    todo: list[object] = [exc]
    seen: set[int] = set()
    while todo:
        found = todo.pop()
        if not isinstance(found, BaseException) or id(found) in seen:
            continue
        seen.add(id(found))
        if isinstance(found, ConnectionRefusedError):
            return True
        todo += [found.__cause__, found.__context__, getattr(found, "reason", None), *found.args]
    return False
