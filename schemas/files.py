"""Reading the configuration files (taxonomy, mapping, decisions, membership): one line for any
problem; and changing one safely (under a lock, written whole)."""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from schemas.errors import ConfigError

# libyaml's parser when PyYAML was built with it (its wheels are): four times as fast as the
# pure-Python one, which spent 45 ms of each run on the taxonomy
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _without_anchors(text: str) -> None:
    """Refuse YAML anchors and aliases: a configuration file says each thing where it is. An
    alias repeats a node without writing it again (600 bytes of a decisions file made 312 MB of
    `bibia curate list`); they are found in the parser's events, before anything is built."""
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 1 if event.start_mark is not None else "?"
            raise _Refused(f"ancres et alias YAML (& et *) refusés (ligne {line})")


class _Refused(Exception):
    pass


def load_yaml(path: Path, what: str, missing_ok: bool = False) -> dict[str, Any]:
    """The mapping a YAML file holds; a `ConfigError` naming the file for anything else (absent,
    unreadable, not text, not YAML, anchors or aliases, not a mapping). `missing_ok`: an absent
    file is empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise ConfigError(f"{what} introuvable : {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} n'est pas un texte UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} illisible : {exc.strerror}") from None
    try:
        _without_anchors(text)
        data = yaml.load(text, Loader=_LOADER)
    except _Refused as exc:
        raise ConfigError(f"{what} {path} : {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (ligne {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{what} {path} n'est pas un YAML valide{where} : {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what} {path} doit contenir un dictionnaire YAML (nom: valeur), "
            f"pas un {type(data).__name__}"
        )
    return data


LOCK_WAIT_SECONDS = 60.0  # a command waits this long for another one changing the file


@contextmanager
def exclusive(path: Path, busy: str) -> Iterator[None]:
    """An exclusive lock on a configuration file (a `.name.lock` beside it), kept until the
    block ends: the read, the change and the write of one command are never interleaved with
    another's. `busy`: what the message says is changing it, when it waits too long."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigError(
                        f"{busy} {path} depuis plus de {LOCK_WAIT_SECONDS:.0f} s : réessayer "
                        "quand il aura fini"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(handle)  # releases the lock


def write_atomically(path: Path, text: str) -> None:
    """Write the file whole: a reader (a sync, a server) sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
