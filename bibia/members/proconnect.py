"""Logging in with ProConnect (OpenID Connect, authorization code flow), as it is published:
discovery, an authorization request with `state`, `nonce` and the `acr` asked through the
`claims` parameter, the code exchanged for tokens, the id_token and the userinfo answer (a
signed JWT, `application/jwt`) checked with joserfc, the JOSE library of the authlib project
(signature by a published key, issuer, audience, expiry, nonce, acr), and logout through
`end_session_endpoint`. (authlib's own httpx client is deprecated in favour of httpx2; the two
HTTP calls are plain httpx here.)

Anything a provider answers that does not hold is a `LoginRefused` with a French sentence for
the person who tried: never a traceback."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from schemas.errors import BibiaError
from transforms.membership import SIRET

SCOPES = "openid given_name usual_name email uid siret idp_id"
ALGORITHMS = ("RS256", "ES256")  # asymmetric only: a key the provider publishes
LEEWAY_SECONDS = 60  # clocks of two machines
DISCOVERY_SECONDS = 3_600.0  # the provider's configuration and keys are read again after this
TIMEOUT_SECONDS = 10.0


class LoginRefused(BibiaError):
    """A login that cannot be accepted; its message is for the person, in French."""


@dataclass(frozen=True)
class Identity:
    """Who logged in, as ProConnect says (the e-mail is the stable key, not `sub`)."""

    sub: str
    email: str
    given_name: str | None
    usual_name: str | None
    siret: str | None
    uid: str | None
    idp_id: str | None
    acr: str | None
    id_token: str  # kept for logout (`id_token_hint`)


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    authorization: str
    token: str
    userinfo: str
    end_session: str | None
    jwks_uri: str


class ProConnect:
    """One service registered with ProConnect: its client id and secret, its return addresses,
    the `acr` it asks for. The provider's configuration and keys are read when first needed
    and kept an hour (keys again at once when a token names one not known)."""

    def __init__(
        self,
        discovery_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        acr: str | None,
        http: httpx.AsyncClient,
    ) -> None:
        self.discovery_url = discovery_url
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri
        self.acr = acr
        self._http = http
        self._endpoints: Endpoints | None = None
        self._keys: KeySet | None = None
        self._read_at = 0.0

    async def endpoints(self) -> Endpoints:
        if self._endpoints is None or time.monotonic() - self._read_at > DISCOVERY_SECONDS:
            found = await self._json(self.discovery_url)
            try:
                self._endpoints = Endpoints(
                    issuer=_text(found["issuer"]),
                    authorization=_text(found["authorization_endpoint"]),
                    token=_text(found["token_endpoint"]),
                    userinfo=_text(found["userinfo_endpoint"]),
                    end_session=found.get("end_session_endpoint") or None,
                    jwks_uri=_text(found["jwks_uri"]),
                )
            except (KeyError, TypeError):
                raise LoginRefused(
                    "la configuration publiée par ProConnect est incomplète : réessayez plus tard"
                ) from None
            self._keys = None
            self._read_at = time.monotonic()
        return self._endpoints

    async def authorization_url(self, state: str, nonce: str) -> str:
        """Where the browser is sent to log in (only the parameters ProConnect accepts)."""
        endpoints = await self.endpoints()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPES,
            "state": state,
            "nonce": nonce,
        }
        if self.acr:
            claims = {"id_token": {"acr": {"essential": True, "value": self.acr}}}
            params["claims"] = orjson.dumps(claims).decode()
        return f"{endpoints.authorization}?{urlencode(params)}"

    async def logout_url(self, id_token: str, state: str, back_to: str) -> str | None:
        """Where the browser is sent to end its ProConnect session (None: no such endpoint)."""
        endpoints = await self.endpoints()
        if not endpoints.end_session:
            return None
        params = {"id_token_hint": id_token, "state": state, "post_logout_redirect_uri": back_to}
        return f"{endpoints.end_session}?{urlencode(params)}"

    async def identity(self, code: str, nonce: str) -> Identity:
        """The code exchanged for tokens; the id_token and the userinfo JWT checked."""
        endpoints = await self.endpoints()
        token = await self._tokens(endpoints, code)
        id_token = token.get("id_token")
        access_token = token.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise LoginRefused("ProConnect n'a pas donné de jeton d'identité : recommencez")
        claims = await self._checked(id_token, endpoints, "le jeton d'identité", nonce=nonce)
        if self.acr and claims.get("acr") != self.acr:
            raise LoginRefused(
                f"niveau d'authentification insuffisant ({claims.get('acr') or 'aucun'} ; "
                f"{self.acr} demandé)"
            )
        info = await self._userinfo(endpoints, access_token)
        if info.get("sub") != claims.get("sub"):
            raise LoginRefused("les informations d'identité ne concernent pas la même personne")
        email = info.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise LoginRefused("ProConnect n'a pas donné d'adresse électronique")
        siret = info.get("siret")
        return Identity(
            sub=str(claims["sub"]),
            email=email.strip().lower(),
            given_name=_optional(info.get("given_name")),
            usual_name=_optional(info.get("usual_name")),
            siret=siret if isinstance(siret, str) and SIRET.match(siret) else None,
            uid=_optional(info.get("uid")),
            idp_id=_optional(info.get("idp_id")),
            acr=_optional(claims.get("acr")),
            id_token=id_token,
        )

    async def _tokens(self, endpoints: Endpoints, code: str) -> dict[str, Any]:
        """The code exchanged at the token endpoint (`client_secret_post`, as ProConnect)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        try:
            answer = await self._http.post(endpoints.token, data=form, timeout=TIMEOUT_SECONDS)
            found = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _unreachable(exc) from None
        if answer.status_code != 200 or not isinstance(found, dict):
            error = found.get("error") if isinstance(found, dict) else None
            said = str(error or answer.status_code)[:80]
            raise LoginRefused(
                f"ProConnect a refusé le code de connexion ({said}) "
                ": il a peut-être déjà servi ou expiré ; recommencez la connexion"
            )
        if str(found.get("token_type", "")).lower() != "bearer":
            raise LoginRefused("ProConnect a donné un jeton d'un type inattendu")
        return found

    async def _userinfo(self, endpoints: Endpoints, access_token: str) -> dict[str, Any]:
        """ProConnect answers userinfo as a signed JWT (`application/jwt`), never JSON."""
        try:
            answer = await self._http.get(
                endpoints.userinfo,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from None
        kind = answer.headers.get("content-type", "").split(";")[0].strip()
        if answer.status_code != 200 or kind != "application/jwt":
            raise LoginRefused(
                "les informations d'identité de ProConnect ne sont pas un jeton signé "
                f"(HTTP {answer.status_code}, {kind or 'sans type'})"
            )
        return await self._checked(answer.text.strip(), endpoints, "les informations d'identité")

    async def _checked(
        self, token: str, endpoints: Endpoints, what: str, nonce: str | None = None
    ) -> dict[str, Any]:
        """A JWT's claims once its signature (by a key the provider publishes, RS256 or ES256),
        issuer, audience, expiry and (for the id_token) nonce hold."""
        keys = await self._key_set(endpoints, refresh=False)
        try:
            decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
        except JoseError as exc:
            if "key" not in str(exc).lower():
                raise LoginRefused(f"{what} : signature refusée ({exc.error})") from None
            keys = await self._key_set(endpoints, refresh=True)  # the provider's keys changed?
            try:
                decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
            except JoseError as again:
                raise LoginRefused(f"{what} : signature refusée ({again.error})") from None
        except ValueError:
            raise LoginRefused(f"{what} : jeton illisible") from None
        claims = dict(decoded.claims)
        rules: dict[str, Any] = {
            "iss": {"essential": True, "value": endpoints.issuer},
            "aud": {"essential": True, "value": self.client_id},
            "sub": {"essential": True},
        }
        if nonce is not None:
            rules |= {"exp": {"essential": True}, "nonce": {"essential": True, "value": nonce}}
        try:
            JWTClaimsRegistry(leeway=LEEWAY_SECONDS, **rules).validate(claims)
        except JoseError as exc:
            raise LoginRefused(f"{what} : {_claim_problem(exc)}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise LoginRefused(f"{what} : destiné à un autre service")
        return claims

    async def _key_set(self, endpoints: Endpoints, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            found = await self._json(endpoints.jwks_uri)
            try:
                self._keys = KeySet.import_key_set(found)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError):
                raise LoginRefused("les clés publiées par ProConnect sont illisibles") from None
        return self._keys

    async def _json(self, url: str) -> dict[str, Any]:
        try:
            answer = await self._http.get(url, timeout=TIMEOUT_SECONDS)
            answer.raise_for_status()
            found = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LoginRefused(
                f"ProConnect ne répond pas ({type(exc).__name__}) : réessayez dans un moment"
            ) from None
        if not isinstance(found, dict):
            raise LoginRefused("ProConnect a répondu autre chose que ce qui était attendu")
        return found


def _unreachable(exc: Exception) -> LoginRefused:
    return LoginRefused(f"ProConnect ne répond pas ({type(exc).__name__}) : réessayez")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(value)
    return value


def _optional(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _claim_problem(exc: JoseError) -> str:
    name = type(exc).__name__
    if name == "ExpiredTokenError":
        return "jeton expiré"
    claim = getattr(exc, "claim", None)
    if claim == "aud":
        return "destiné à un autre service"
    if claim == "nonce":
        return "nonce différent de celui de cette connexion (rejeu ?)"
    if claim == "iss":
        return "émis par un autre fournisseur"
    return f"jeton refusé ({exc.error}{f' : {claim}' if claim else ''})"
