"""The worker process that derives batches beside the main one.

Mapping, normalising and validating are pure Python, bound to one core by the GIL. A run of
more than one batch derives in one worker process: meanwhile the main process lands the next
batch, fetches pages and loads the previous one. A run of one batch derives in place, where
it is asked for: a worker costs about a second to start (it imports pandas and pandera).

The worker is a plain child process (`subprocess`), spoken to through a socket pair: batches go
as pickles of their payloads' JSON text (pickling text is ten times cheaper than pickling the
parsed payloads), results come back as pickles of Arrow tables (`DerivedTables`), in order.
Not `multiprocessing`: its start method also starts a resource tracker process (12 MiB of the
memory ceiling) that bibia has nothing for, and threads of its own. The worker ends when its
socket closes: when the run closes it, or when the main process dies, even by SIGKILL.
"""

from __future__ import annotations

import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Protocol

from bibia.runtime import give_back_memory, prepare_process, without_hypothesis
from schemas.errors import BibiaError
from schemas.records import RawRow
from transforms.derive import DerivedTables, Rules, derive_tables

STOP_SECONDS = 5  # a worker not gone this long after it was told to stop is killed


class Pending(Protocol):
    """A batch on its way: `result()` waits for it (or, in place, derives it)."""

    def result(self) -> DerivedTables: ...


@dataclass
class InPlace:
    rows: list[RawRow]
    rules: Rules

    def result(self) -> DerivedTables:
        return derive_tables(self.rows, self.rules)


@dataclass
class InWorker:
    worker: Worker
    number: int  # the batch's place in what the worker was sent

    def result(self) -> DerivedTables:
        return self.worker.result(self.number)


def serve(fd: int) -> None:
    """The worker's loop: a batch in, its tables out, until the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    channel = Connection(fd)
    without_hypothesis()
    prepare_process()
    while True:
        try:
            job = channel.recv_bytes()
        except (EOFError, OSError):
            return  # closed by the run, or its process is gone
        rows, rules = pickle.loads(job)
        del job
        try:
            answer: tuple[str, object] = ("ok", derive_tables(rows, rules))
        except Exception as exc:  # the run fails with it, in the main process
            answer = ("failed", exc)
        del rows
        try:
            out = _pickled(answer)
            del answer
            channel.send_bytes(out)
            del out
        except OSError:
            return
        give_back_memory()  # the batch's transient peak, back to the system


def _pickled(answer: tuple[str, object]) -> bytes:
    """`answer` as the main process can read it: an exception that does not come back out of a
    pickle (some take arguments they do not keep) goes as its type and text."""
    kind, value = answer
    try:
        out = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        if kind == "failed":
            pickle.loads(out)
        return out
    except Exception:
        return pickle.dumps((kind, RuntimeError(f"{type(value).__name__}: {value}")))


class Worker:
    """The process that derives batches beside the main one. It starts when a run turns out to
    have more than one batch; until then, batches are derived in place. `close()` stops it.
    Batches are sent by a thread (`_send`), so that the main process never waits for the
    worker to take one; results are read when asked for, in order."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: Connection | None = None
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        self._sender: threading.Thread | None = None
        self._sent = 0
        self._received = 0

    @property
    def started(self) -> bool:
        return self._process is not None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        mine, theirs = socket.socketpair()
        code = f"import sys; sys.path[:] = {sys.path!r}; from bibia.worker import serve; serve("
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-c", code + f"{theirs.fileno()})"],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        self._channel = Connection(mine.detach())
        self._sender = threading.Thread(
            target=self._send, args=(self._channel, self._outbox), name="bibia-batches", daemon=True
        )
        self._sender.start()

    @staticmethod
    def _send(channel: Connection, outbox: queue.Queue[bytes | None]) -> None:
        while (job := outbox.get()) is not None:
            try:
                channel.send_bytes(job)
            except OSError:
                return  # the worker is gone: the batch's result says so
            del job

    def submit(
        self,
        rows: list[RawRow],
        rules: Rules,
        *,
        more_to_come: bool,
    ) -> Pending:
        """Derive `rows`: in the worker once the run has shown it has more than one batch
        (`more_to_come`), in place otherwise."""
        if more_to_come and self._process is None:
            self._start()
        if self._process is None:
            return InPlace(rows, rules)
        self._outbox.put(pickle.dumps((rows, rules), protocol=pickle.HIGHEST_PROTOCOL))
        self._sent += 1
        return InWorker(self, self._sent)

    def result(self, number: int) -> DerivedTables:
        """The tables of the `number`th batch sent (results come back in order)."""
        assert self._channel is not None and number == self._received + 1
        try:
            kind, value = pickle.loads(self._channel.recv_bytes())
        except (EOFError, OSError):
            raise BibiaError(
                "le processus qui dérive les soumissions s'est arrêté brusquement (mémoire "
                "épuisée ?)"
            ) from None
        self._received += 1
        if kind == "failed":
            assert isinstance(value, BaseException)
            raise value
        assert isinstance(value, DerivedTables)
        return value

    def close(self) -> None:
        """Stop the worker: at once if batches are still on their way (a run that failed),
        otherwise once it has read that there is no more."""
        process, channel, sender = self._process, self._channel, self._sender
        if process is None:
            return
        self._process = self._channel = self._sender = None
        if self._received < self._sent:
            process.kill()
        self._outbox.put(None)
        if sender is not None:
            sender.join(STOP_SECONDS)
        if channel is not None:
            channel.close()  # the worker reads the end of its socket and returns
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._outbox = queue.Queue()
        self._sent = self._received = 0
