"""Delivering the open data to data.gouv.fr (udata's API, `/api/1`): the public CSV, Parquet,
datapackage and Table Schema replace the dataset's resources, each keeping its id and its
stable address (`/datasets/r/{id}`), so that reusers' links keep working; a resource that does
not exist yet is made once. The CSV and the Parquet declare the Table Schema they follow.

The key goes in the `X-API-KEY` header of each request, nowhere else; a failure is a
`DeliveryFailed` whose message never holds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from publish.deliver.git import DeliveryFailed


@dataclass(frozen=True)
class Portal:
    api_url: str  # https://www.data.gouv.fr/api/1
    dataset: str  # the dataset's id or slug

    @property
    def site(self) -> str:
        """The portal's address, for the stable addresses of resources."""
        return self.api_url.removesuffix("/").removesuffix("/api/1")


@dataclass(frozen=True)
class Upload:
    """One file of the dataset: what it is called there and how it is described."""

    path: Path
    title: str
    description: str
    format: str
    follows_schema: bool = False  # declares the Table Schema uploaded beside it


@dataclass(frozen=True)
class Uploaded:
    name: str  # the file's name (the key bibia keeps its resource id under)
    resource_id: str
    stable_url: str
    made: bool  # a new resource (else: its file replaced, the same id)


def upload(
    portal: Portal,
    key: str,
    uploads: list[Upload],
    known: Mapping[str, str],
    schema_name: str | None,
    timeout: float = 120.0,
) -> list[Uploaded]:
    """Replace (or make once) each file's resource; `known`: file name -> resource id kept
    from earlier runs; `schema_name`: the upload that is the Table Schema, which the others
    follow. Returns what each became."""
    headers = {"X-API-KEY": key, "Accept": "application/json"}
    with httpx.Client(base_url=portal.api_url, headers=headers, timeout=timeout) as client:
        found = _json(client, "GET", f"/datasets/{portal.dataset}/")
        present = {r.get("id"): r for r in found.get("resources") or [] if isinstance(r, dict)}
        by_title = {r.get("title"): r.get("id") for r in present.values()}
        done: list[Uploaded] = []
        schema_url: str | None = None
        ordered = sorted(uploads, key=lambda u: u.path.name != schema_name)  # the schema first
        for item in ordered:
            name = item.path.name
            rid = known.get(name)
            if rid not in present:
                rid = by_title.get(item.title) or by_title.get(name)
            route = (
                f"/datasets/{portal.dataset}/resources/{rid}/upload/"
                if rid
                else (f"/datasets/{portal.dataset}/upload/")
            )
            with item.path.open("rb") as handle:
                made = _json(client, "POST", route, files={"file": (name, handle)})
            rid = str(made.get("id") or rid)
            stable = f"{portal.site}/fr/datasets/r/{rid}"
            described: dict[str, Any] = {
                "title": item.title,
                "description": item.description,
                "format": item.format,
                "type": "main" if item.format in ("csv", "parquet") else "documentation",
            }
            if item.follows_schema and schema_url:
                described["schema"] = {"url": schema_url}
            _json(client, "PUT", f"/datasets/{portal.dataset}/resources/{rid}/", json=described)
            if name == schema_name:
                schema_url = stable
            done.append(Uploaded(name, rid, stable, made=rid not in present))
        return done


def _json(client: httpx.Client, method: str, route: str, **sent: Any) -> dict[str, Any]:
    try:
        answer = client.request(method, route, **sent)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(
            f"data.gouv.fr ne répond pas ({type(exc).__name__})", transient=True
        ) from None
    if answer.status_code >= 400:
        try:
            said = str(answer.json().get("message", ""))[:200]
        except ValueError:
            said = ""
        why = {
            401: "clé d'API refusée (DATAGOUV_API_KEY)",
            403: "cette clé ne peut pas modifier ce jeu de données",
            404: "jeu de données ou ressource introuvable (DATAGOUV_DATASET)",
        }.get(answer.status_code, said or "erreur")
        transient = answer.status_code >= 500 or answer.status_code == 429
        raise DeliveryFailed(
            f"data.gouv.fr : HTTP {answer.status_code} sur {method} {route} : {why}", transient
        )
    try:
        found = answer.json()
    except ValueError:
        raise DeliveryFailed("data.gouv.fr a répondu autre chose que du JSON", True) from None
    return found if isinstance(found, dict) else {}
