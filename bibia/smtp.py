"""Where messages go: an SMTP server as people run it (STARTTLS or TLS, certificates checked,
a login over TLS only), or (`BIBIA_MAIL=log`) a folder of `.eml` files, nothing sent.

A server's answer is sorted once: 2xx sent; 4xx (a mailbox full, a greylisting, a server busy)
waits for the next run; 5xx (an unknown recipient, a refused content) is refused for good. A
connection that fails or a login refused stops the sending: every message stays pending. The
password is given to the server only: never in a message, a log or an error.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

from bibia.settings import Settings


@dataclass(frozen=True)
class Refused(Exception):
    """The server refused one message: `permanent` (5xx) or not (4xx)."""

    code: int
    said: str

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    def __str__(self) -> str:
        return f"{self.code} {self.said}"


class Unreachable(Exception):
    """No message can go now (the connection, TLS, the login): all stay pending."""


def _said(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return re.sub(r"\s+", " ", text).strip()[:300]


class SmtpTransport:
    """One connection to the server for a run's messages (`with`)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host
        self.host = settings.smtp_host
        self.tls = settings.smtp_tls
        self.port = settings.smtp_port or {"starttls": 587, "tls": 465, "none": 25}[self.tls]
        self.timeout = settings.smtp_timeout_seconds
        self.user = settings.smtp_user
        self._password = settings.smtp_password
        ca = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
        self._context = ssl.create_default_context(cafile=ca)
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        where = f"{self.host}:{self.port}"
        try:
            if self.tls == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            self._smtp = smtp
            smtp.ehlo()
            if self.tls == "starttls":
                if not smtp.has_extn("starttls"):
                    raise Unreachable(f"le serveur {where} ne propose pas STARTTLS")
                smtp.starttls(context=self._context)
                smtp.ehlo()
            if self.user and self._password:
                smtp.login(self.user, self._password)
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise Unreachable(
                f"le serveur {where} a refusé l'identifiant {self.user} ({exc.smtp_code} "
                f"{_said(exc.smtp_error)}) : vérifier BIBIA_SMTP_USER et BIBIA_SMTP_PASSWORD"
            ) from None
        except ssl.SSLError as exc:
            self.close()
            raise Unreachable(
                f"connexion sécurisée à {where} impossible ({exc.reason or exc}) : certificat "
                "non reconnu ? (BIBIA_SMTP_CA_FILE)"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise Unreachable(f"serveur {where} injoignable ({_why(exc)})") from None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, message: EmailMessage) -> None:
        """Sent, or `Refused` (this message), or `Unreachable` (the connection went)."""
        assert self._smtp is not None
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, said = next(iter(exc.recipients.values()))
            raise Refused(code, _said(said)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise Refused(exc.smtp_code, _said(exc.smtp_error)) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise Unreachable(f"le serveur a coupé la connexion ({_why(exc)})") from None
        except smtplib.SMTPNotSupportedError as exc:  # an address this server cannot take
            raise Refused(553, f"adresse refusée par ce serveur ({_why(exc)})") from None
        except smtplib.SMTPResponseException as exc:
            raise Refused(exc.smtp_code, _said(exc.smtp_error)) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise Unreachable(f"envoi interrompu ({_why(exc)})") from None
        if refused:  # a message to one recipient: refused means nothing went
            code, said = next(iter(refused.values()))
            raise Refused(code, _said(said))


def _why(exc: BaseException) -> str:
    said = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__


class EmlFolder:
    """`BIBIA_MAIL=log`: each message written as an `.eml` file a mail program opens."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> EmlFolder:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unreachable(
                f"dossier des messages {self.folder} impossible à créer ({exc})"
            ) from None
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def send(self, message: EmailMessage, name: str) -> Path:
        path = self.folder / f"{name}.eml"
        try:
            path.write_bytes(bytes(message))
        except OSError as exc:
            raise Unreachable(f"message impossible à écrire dans {self.folder} ({exc})") from None
        return path
