"""`bibia` processes for the tests, forked from a parent that has imported bibia already.

Each is a process of its own, as `python -m bibia ARGS` makes one: its pid (signals, process
groups), its environment, folder and standard streams, its exit status; only the interpreter's
start is shared. A fresh Python spends about 2 s of CPU importing pandas, pandera, pyarrow and
DuckDB before bibia reads its first argument; the whole check started some 150 of them on two
cores. Tests that are about the interpreter's start itself (`python -m bibia --version`, what a
run imports) start a real one.

The parent (`serve`, one per test process, started at its first use) is asked over a Unix
socket: a request (JSON) with the child's three standard streams and the write end of a pipe
for its exit status, passed as file descriptors. It forks, answers the pid, and writes the
status when the child ends (it is its parent: it reaps it). It never starts a thread, and
imports nothing that starts one but OpenBLAS and jemalloc, which both prepare for a fork.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import io
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
PRELOADED = (  # what the commands import; never prefect (a served run imports it itself)
    "bibia.cli",
    "bibia.commands",
    "bibia.curate",
    "bibia.mail",
    "bibia.members.commands",
    "bibia.sql",
    "bibia.status",
    "bibia.webhook",
)
PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
_STATUS = struct.Struct("!i")


# -- the parent that forks ----------------------------------------------------------------------
def serve(control_fd: int) -> None:
    """Fork a child for each request read on `control_fd`; write each child's status to its
    status pipe once it ends. Ends when the socket closes (its test process is gone)."""
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    control = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    statuses: dict[int, int] = {}  # child pid -> its status pipe
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    control.sendall(b"r")  # ready
    while True:
        for key, _ in selector.select():
            if key.fileobj is control:
                request = _receive(control)
                if request is None:
                    return
                body, fds = request
                pid = _fork(json.loads(body), fds)
                statuses[pid] = fds[3]
                for fd in fds[:3]:
                    os.close(fd)
                control.sendall(_STATUS.pack(pid))
            else:
                os.read(wake_r, 512)
        _reap(statuses)


def _reap(statuses: dict[int, int]) -> None:
    while statuses:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = statuses.pop(pid, None)
        if fd is not None:
            os.write(fd, _STATUS.pack(os.waitstatus_to_exitcode(status)))
            os.close(fd)


def _receive(control: socket.socket) -> tuple[bytes, list[int]] | None:
    fds = array.array("i")
    head, ancillary, _flags, _address = control.recvmsg(4, socket.CMSG_SPACE(4 * fds.itemsize))
    if not head:
        return None
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    (size,) = struct.unpack("!I", head)
    body = b""
    while len(body) < size:
        body += control.recv(size - len(body))
    return body, list(fds)


def _fork(request: dict[str, Any], fds: list[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: nothing of the parent's but what a fresh `python -m` would have too
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if request["new_session"]:
            os.setsid()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # as `close_fds`: the parent's, the others'
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _run_as_main(request["module"], request["args"])
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(70)  # `_run_as_main` ends the process itself


def _run_as_main(module: str, args: list[str]) -> None:
    """`python -m module args` in this process, to its exit."""
    import runpy
    import traceback

    encoding = os.environ.get("PYTHONIOENCODING", "utf-8").split(":")[0] or "utf-8"
    sys.stdin = sys.__stdin__ = _text(0, encoding, "strict", line_buffering=False)
    sys.stdout = sys.__stdout__ = _text(1, encoding, "strict", line_buffering=os.isatty(1))
    sys.stderr = sys.__stderr__ = _text(2, encoding, "backslashreplace", line_buffering=True)
    sys.argv = [module, *args]
    sys.modules.pop(module, None)  # run as `__main__`, as a fresh `python -m` does, not found
    code: Any = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        code = -signal.SIGINT
    except BaseException:  # as a fresh interpreter: the trace, exit 1
        traceback.print_exc()
        code = 1
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # the non-daemon threads, as at exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if code == -signal.SIGINT:  # as Python ends on an uncaught Ctrl-C: by the signal
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _text(fd: int, encoding: str, errors: str, line_buffering: bool) -> io.TextIOWrapper:
    """A standard stream as a fresh interpreter makes it."""
    raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
    buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding, errors, line_buffering=line_buffering)


# -- the test's side -------------------------------------------------------------------------
class _Parent:
    """This test process's forking parent, started at its first use."""

    _lock = threading.Lock()
    _instance: _Parent | None = None

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from tests.spawn import serve; serve({theirs.fileno()})"],
            cwd=ROOT,
            env=env,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.control = mine
        if mine.recv(1) != b"r":
            raise RuntimeError("the forking parent of tests/spawn.py did not start")
        atexit.register(self.close)

    @classmethod
    def get(cls) -> _Parent:
        with cls._lock:
            if cls._instance is None or cls._instance.process.poll() is not None:
                cls._instance = _Parent()
            return cls._instance

    def fork(self, request: dict[str, Any], fds: list[int]) -> int:
        body = json.dumps(request).encode()
        with self._lock:
            self.control.sendmsg(
                [struct.pack("!I", len(body))],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))],
            )
            self.control.sendall(body)
            answer = b""
            while len(answer) < _STATUS.size:
                answer += self.control.recv(_STATUS.size - len(answer))
        (pid,) = _STATUS.unpack(answer)
        return pid

    def close(self) -> None:
        self.control.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Process:
    """A child of the forking parent, used as a `subprocess.Popen` is (pid, poll, wait,
    communicate, signals, the streams asked for as pipes)."""

    def __init__(
        self,
        args: list[str],
        *,
        cwd: Path | str = ROOT,
        env: dict[str, str] | None = None,
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
        text: bool = False,
        start_new_session: bool = False,
    ) -> None:
        module, rest = _module_of(args)
        self.args = args
        self.returncode: int | None = None
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.stderr: IO[Any] | None = None
        theirs, mine = [], []
        for name, spec in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
            fd, own = _stream(name, spec, stdout_fd=theirs[1] if name == "stderr" else None)
            theirs.append(fd)
            if own is not None:
                mine.append(own)
                mode = "w" if name == "stdin" else "r"
                setattr(self, name, open(own, mode + ("" if text else "b")))  # noqa: SIM115
        status_r, status_w = os.pipe()
        request = {
            "module": module,
            "args": rest,
            "cwd": str(cwd),
            "env": dict(os.environ if env is None else env),
            "new_session": start_new_session,
        }
        try:
            self.pid = _Parent.get().fork(request, [*theirs, status_w])
        finally:
            os.close(status_w)
            for fd in theirs:
                if fd not in (0, 1, 2):
                    os.close(fd)
        self._status = status_r

    def poll(self) -> int | None:
        if self.returncode is None and self._ended_within(0):
            self._read_status()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._ended_within(timeout):
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._read_status()
        assert self.returncode is not None
        return self.returncode

    def _ended_within(self, timeout: float | None) -> bool:
        """Whether the parent wrote this process's status (it has ended) within `timeout`."""
        return bool(select.select([self._status], [], [], timeout)[0])

    def _read_status(self) -> None:
        data = b""
        while len(data) < _STATUS.size:
            chunk = os.read(self._status, _STATUS.size - len(data))
            if not chunk:
                raise RuntimeError(f"the forking parent lost process {self.pid}")
            data += chunk
        os.close(self._status)
        (self.returncode,) = _STATUS.unpack(data)

    def communicate(
        self, input: str | bytes | None = None, timeout: float | None = None
    ) -> tuple[Any, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.stdin is not None:
            if input:
                self.stdin.write(input)
            self.stdin.close()
        outputs: dict[str, list[Any]] = {}
        readers = []
        for name in ("stdout", "stderr"):
            stream = getattr(self, name)
            if stream is not None:
                outputs[name] = []
                reader = threading.Thread(
                    target=lambda s=stream, o=outputs[name]: o.append(s.read()), daemon=True
                )
                reader.start()
                readers.append(reader)
        for reader in readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        got = {name: out[0] if out else None for name, out in outputs.items()}
        for name in outputs:
            getattr(self, name).close()
        return got.get("stdout"), got.get("stderr")

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        self.wait()


def _module_of(args: list[str]) -> tuple[str, list[str]]:
    """`[python, -m, bibia..., args...]` -> the module and its arguments."""
    if len(args) < 3 or args[0] != sys.executable or args[1] != "-m":
        raise ValueError(f"tests/spawn.py starts `python -m bibia...` only, not {args}")
    if not (args[2] == "bibia" or args[2].startswith("bibia.")):
        raise ValueError(f"tests/spawn.py starts bibia's modules only, not {args[2]}")
    return args[2], list(args[3:])


def _stream(name: str, spec: Any, stdout_fd: int | None) -> tuple[int, int | None]:
    """The descriptor the child gets for `name`, and this side's end of a pipe if any."""
    if spec == PIPE:
        read, write = os.pipe()
        return (read, write) if name == "stdin" else (write, read)
    if spec == DEVNULL:
        return os.open(os.devnull, os.O_RDWR), None
    if spec == subprocess.STDOUT and stdout_fd is not None:
        return os.dup(stdout_fd), None
    if spec is None and name == "stdin":  # never the test process's own (execnet's channel)
        return os.open(os.devnull, os.O_RDONLY), None
    if spec is None:
        return os.dup({"stdout": 1, "stderr": 2}[name]), None
    if isinstance(spec, int):
        return os.dup(spec), None
    return os.dup(spec.fileno()), None


def run(
    args: list[str],
    *,
    cwd: Path | str = ROOT,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
    capture_output: bool = False,
    text: bool = False,
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run` for `python -m bibia...`, through the forking parent."""
    pipe = PIPE if capture_output else None
    process = Process(
        args,
        cwd=cwd,
        env=env,
        stdin=PIPE if input is not None else DEVNULL,
        stdout=pipe,
        stderr=pipe,
        text=text,
    )
    try:
        out, err = process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(args, process.wait(), out, err)
