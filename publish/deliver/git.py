"""Delivering files to a git repository: the public site to the branch GitHub Pages serves,
the Datami feed to the repository the association's current site reads.

A target keeps a working clone of its own (`clone`), fetched shallow before each delivery.
The files are copied in only when their bytes differ from the clone's (the others keep their
times, so git does not read them again; a source not rewritten since its last delivery, whose
copy nobody touched, is not read either), `git add` finds what changed, one commit is made
(none when nothing changed) and pushed. When the remote moved on meanwhile (someone else
committed), the commit is made again on top of theirs and pushed again:
never a force-push. Two deliveries to one target never race (a lock beside the clone).

The token is given to git for each call only, in its environment (`http.extraHeader`), never
on a command line, in a remote address or in `.git/config`; git's messages are cleaned of it
before anybody reads them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from schemas.errors import BibiaError, ConfigError
from schemas.files import exclusive

PUSH_ATTEMPTS = 3  # the remote moved on meanwhile: the commit made again on top, this often
KEPT = ("CNAME", ".github/")  # what a mirrored branch keeps though bibia does not make it
TRANSIENT = re.compile(
    r"could not resolve|connection refused|connection timed out|timed out|"
    r"failed to connect|the remote end hung up|early eof|http 5\d\d|"
    r"returned error: 5\d\d|temporarily|unable to access",
    re.IGNORECASE,
)


class DeliveryFailed(BibiaError):
    """A delivery that did not land; `transient`: worth trying again soon (the network, a
    server error), else it waits for someone (credentials refused, a hook that refuses)."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class GitTarget:
    """Where files go: `url` (anything git accepts, `file://` included), `branch`, `folder` in
    the repository ("" for its root). `mirror`: the folder is bibia's (a file it no longer
    makes is removed, but `CNAME` and `.github/`); otherwise only bibia's files are touched."""

    name: str
    url: str
    branch: str
    folder: str = ""
    mirror: bool = False

    def __post_init__(self) -> None:
        address = urlsplit(self.url)
        if address.password or (address.username and address.scheme.startswith("http")):
            raise ConfigError(
                f"l'adresse du dépôt {self.name} ne doit pas contenir d'identifiants : le "
                "jeton se donne par BIBIA_GIT_TOKEN (ou un assistant d'identification de git)"
            )


@dataclass(frozen=True)
class Author:
    name: str
    email: str


@dataclass(frozen=True)
class Delivered:
    """What a delivery did: the commit pushed (None: nothing had changed), files added,
    changed and removed, bytes sent as git counted them."""

    target: str
    commit: str | None
    added: int = 0
    changed: int = 0
    removed: int = 0
    bytes_sent: int = 0


class Git:
    """git, run in one working clone with the token (if any) in its environment only."""

    def __init__(self, clone: Path, token: str | None, timeout: float) -> None:
        self.clone = clone
        self.timeout = timeout
        self._secrets = [token] if token else []
        self._env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
            "SSH_ASKPASS": "true",
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        if token:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            self._secrets.append(basic)
            self._env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            }

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=self.clone,
                env=self._env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:
            raise DeliveryFailed(
                f"git {args[0]} : pas de réponse en {self.timeout:g} s", transient=True
            ) from None
        if check and done.returncode:
            raise self.failure(args[0], done.stderr or done.stdout)
        return done

    def failure(self, command: str, output: str) -> DeliveryFailed:
        lines = [
            line.strip()
            for line in self.clean(output).splitlines()
            if line.strip() and not line.startswith(("hint:", "To "))
        ]
        said = "; ".join(lines[-3:]) or "sans message"
        return DeliveryFailed(f"git {command} : {said[:400]}", bool(TRANSIENT.search(said)))


def deliver(
    target: GitTarget,
    files: Mapping[str, Path],
    message: str,
    author: Author,
    clone: Path,
    token: str | None,
    timeout: float = 300.0,
) -> Delivered:
    """Deliver `files` (path in `target.folder` -> the file to copy there); one commit with
    `message` when something changed, pushed. A `DeliveryFailed` says why it did not land."""
    clone.mkdir(parents=True, exist_ok=True)
    with exclusive(clone.with_name(f"{clone.name}.delivery"), "une autre publication vers"):
        git = Git(clone, token, timeout)
        _prepare(git, target)
        for _attempt in range(PUSH_ATTEMPTS):
            if not _fetch(git, target):  # a branch this push makes: from nothing
                git("symbolic-ref", "HEAD", f"refs/heads/{target.branch}")
                git("update-ref", "-d", f"refs/heads/{target.branch}")
                git("read-tree", "--empty")
                git("clean", "-qfdx")
            counts = _apply(git, target, files)
            if not any(counts):
                return Delivered(target.name, None)
            git(
                "-c", f"user.name={author.name}", "-c", f"user.email={author.email}",
                "commit", "-q", "--no-verify", "-m", message,
            )  # fmt: skip
            pushed = git(
                "push", "--porcelain", "--progress", "origin",
                f"HEAD:refs/heads/{target.branch}", check=False,
            )  # fmt: skip
            if pushed.returncode == 0:
                commit = git("rev-parse", "HEAD").stdout.strip()
                return Delivered(target.name, commit, *counts, _bytes_sent(pushed.stderr))
            if not _moved_on(pushed.stdout + pushed.stderr):
                raise git.failure("push", pushed.stderr + pushed.stdout)
        raise DeliveryFailed(
            f"git push : le dépôt {target.name} a bougé {PUSH_ATTEMPTS} fois pendant la "
            "publication ; la prochaine exécution réessaie",
            transient=True,
        )


def _prepare(git: Git, target: GitTarget) -> None:
    """A working clone of the target: made once, its remote the target's address."""
    if not (git.clone / ".git").is_dir():
        git("init", "-q")
    remote = git("remote", "get-url", "origin", check=False)
    if remote.returncode:
        git("remote", "add", "origin", target.url)
    elif remote.stdout.strip() != target.url:
        git("remote", "set-url", "origin", target.url)


def _fetch(git: Git, target: GitTarget) -> bool:
    """The branch as the remote has it, checked out (only what differs from the clone is
    rewritten: the other files keep their times); False when the remote has no such branch."""
    fetched = git("fetch", "-q", "--depth=1", "origin", target.branch, check=False)
    if fetched.returncode:
        said = fetched.stderr.lower()
        if "couldn't find remote ref" in said or "could not find remote ref" in said:
            return False
        raise git.failure("fetch", fetched.stderr)
    head = git("rev-parse", "-q", "--verify", "HEAD", check=False).stdout.strip()
    wanted = git("rev-parse", "FETCH_HEAD").stdout.strip()
    if head != wanted:
        git("checkout", "-q", "-B", target.branch, wanted)
        git("reset", "-q", "--hard", wanted)
    git("clean", "-qfdx")
    return True


def _apply(git: Git, target: GitTarget, files: Mapping[str, Path]) -> tuple[int, int, int]:
    """Copy in what differs, remove (when mirrored) what bibia no longer makes, stage it:
    (added, changed, removed)."""
    root = git.clone / target.folder if target.folder else git.clone
    seen = _Copied(git.clone / ".git" / "bibia-copied.json")
    for relative, source in files.items():
        destination = root / relative
        if seen.unchanged(relative, source, destination):
            continue
        if not _same_bytes(source, destination):
            destination.parent.mkdir(parents=True, exist_ok=True)
            # the copy's time is now's: git's index, which trusts a size and a time (to the
            # second), would take a change of the same size at the same time for no change
            shutil.copyfile(source, destination)
        seen.note(relative, source, destination)
    seen.save(files)
    scope = target.folder or "."
    if target.mirror:
        tracked = git("ls-files", "-z", "--", scope).stdout.split("\0")
        prefix = f"{target.folder.rstrip('/')}/" if target.folder else ""
        for path in filter(None, tracked):
            relative = path[len(prefix) :]
            if relative not in files and not relative.startswith(KEPT):
                (git.clone / path).unlink(missing_ok=True)
        git("add", "-A", "--", scope)
    else:
        git("add", "--", *(f"{target.folder}/{p}" if target.folder else p for p in files))
    status = git("diff", "--cached", "--name-status", "--no-renames").stdout.splitlines()
    kinds = [line.split("\t", 1)[0] for line in status]
    return kinds.count("A"), kinds.count("M"), kinds.count("D")


class _Copied:
    """What each source file was when its bytes were last put or found in the clone (its
    inode, size, modification and change times), and what its copy there was then (size and
    modification time): both the same, the source is not read again; otherwise its bytes are
    compared with the copy's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.known: dict[str, list[int]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.known = {}

    @staticmethod
    def _signature(source: Path, destination: Path) -> list[int]:
        here, there = source.stat(), destination.stat()
        return [
            here.st_ino, here.st_size, here.st_mtime_ns, here.st_ctime_ns,
            there.st_ino, there.st_size, there.st_mtime_ns,
        ]  # fmt: skip

    def unchanged(self, relative: str, source: Path, destination: Path) -> bool:
        known = self.known.get(relative)
        if known is None:
            return False
        try:
            return known == self._signature(source, destination)
        except FileNotFoundError:
            return False

    def note(self, relative: str, source: Path, destination: Path) -> None:
        self.known[relative] = self._signature(source, destination)

    def save(self, files: Mapping[str, Path]) -> None:
        kept = {relative: self.known[relative] for relative in files if relative in self.known}
        self.path.write_text(json.dumps(kept, separators=(",", ":")), encoding="utf-8")


def _same_bytes(source: Path, destination: Path, block: int = 1 << 20) -> bool:
    """Whether `destination` holds exactly `source`'s bytes. Sizes and times are no proof:
    two files of one size written within one clock tick share both."""
    try:
        if destination.stat().st_size != source.stat().st_size:
            return False
    except FileNotFoundError:
        return False
    with source.open("rb") as here, destination.open("rb") as there:
        while chunk := here.read(block):
            if chunk != there.read(block):
                return False
    return True


MOVED_ON = (
    "fetch first",
    "non-fast-forward",
    "failed to update ref",
    "cannot lock ref",
    "stale info",
)


def _moved_on(output: str) -> bool:
    """Whether a refused push says the branch moved on since it was fetched (not a hook)."""
    said = output.lower()
    return "rejected]" in said and any(reason in said for reason in MOVED_ON)


def _bytes_sent(progress: str) -> int:
    """What `git push --progress` says it wrote (`Writing objects: ..., 1.20 MiB`)."""
    found = re.findall(r"Writing objects:.*?([\d.]+) (bytes|KiB|MiB|GiB)", progress)
    if not found:
        return 0
    number, unit = found[-1]
    scale = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
    return int(float(number) * scale)
