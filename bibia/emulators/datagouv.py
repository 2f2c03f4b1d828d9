"""An emulator of data.gouv.fr's API (udata, `/api/1`), written from udata's own routes
(`udata/core/dataset/api.py`), for what bibia does with it: read a dataset and its resources,
upload a file as a new resource (`POST /datasets/{dataset}/upload/`), replace a resource's file
keeping its id (`POST /datasets/{dataset}/resources/{rid}/upload/`), change a resource's title,
description, format and schema (`PUT /datasets/{dataset}/resources/{rid}/`), and the stable
address of a resource (`/datasets/r/{rid}`, redirected to its latest file). Writes need the
`X-API-KEY` header (401 otherwise, 403 for a key that may not edit this dataset).

It can be told to misbehave on the next requests (`faults`: a status, a delay), as the Tally
emulator can.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from bibia.emulators.loopback import Served


@dataclass
class PortalFault:
    status: int | None = None  # 500, 503, 429...
    delay_seconds: float = 0.0  # the answer comes this late (a slow portal)


@dataclass
class Dataset:
    dataset_id: str
    title: str
    owner_key: str  # the API key of the organisation that may edit it
    resources: list[dict[str, Any]] = field(default_factory=list)


class DataGouvEmulator(Served):
    def __init__(self) -> None:
        self.datasets: dict[str, Dataset] = {}
        self.files: dict[str, bytes] = {}  # path of an uploaded file -> its bytes
        self.faults: deque[PortalFault] = deque()
        self.seen: list[tuple[str, str, bool]] = []  # method, path, whether a key came
        self.keys_seen: list[str] = []
        self._lock = threading.Lock()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/1"

    def dataset(self, title: str, key: str) -> Dataset:
        made = Dataset(uuid.uuid4().hex[:24], title, key)
        self.datasets[made.dataset_id] = made
        return made

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"portal": self})

    def take_fault(self) -> PortalFault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    # -- what the routes do ------------------------------------------------------------------
    def upload(self, dataset: Dataset, rid: str | None, name: str, content: bytes) -> Any:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        path = f"/fichiers/{dataset.dataset_id}/{stamp}/{name}"
        self.files[path] = content
        infos = {
            "title": name,
            "url": f"{self.url}{path}",
            "filesize": len(content),
            "checksum": {"type": "sha1", "value": hashlib.sha1(content).hexdigest()},
            "filetype": "file",
            "format": name.rsplit(".", 1)[-1].lower(),
            "last_modified": datetime.now(UTC).isoformat(),
        }
        if rid is None:
            resource = {"id": str(uuid.uuid4()), "description": None, "schema": None, **infos}
            dataset.resources.append(resource)
            return 201, resource
        found = [r for r in dataset.resources if r["id"] == rid]
        if not found:
            return 404, {"message": "Resource does not exist"}
        found[0].update(infos)
        return 200, found[0]


class _Handler(BaseHTTPRequestHandler):
    portal: DataGouvEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header(
            "Content-Type",
            "application/octet-stream" if isinstance(payload, bytes) else "application/json",
        )
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> None:
        portal = self.portal
        path = urlsplit(self.path).path
        key = self.headers.get("X-API-KEY")
        portal.seen.append((method, path, key is not None))
        if key:
            portal.keys_seen.append(key)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = portal.take_fault()
        if fault is not None:
            time.sleep(fault.delay_seconds)
            if fault.status:
                self._send(fault.status, {"message": "injected fault"})
                return
        if path.startswith("/fichiers/") and method == "GET":
            found = portal.files.get(path)
            self._send(200 if found is not None else 404, found or {"message": "Not found"})
            return
        parts = [p for p in path.removeprefix("/api/1/").split("/") if p]
        if parts[:2] and parts[0] == "datasets" and len(parts) == 3 and parts[1] == "r":
            self._redirect(parts[2])
            return
        if len(parts) < 2 or parts[0] != "datasets":
            self._send(404, {"message": "Not found"})
            return
        dataset = portal.datasets.get(parts[1])
        if dataset is None:
            self._send(404, {"message": "Dataset not found"})
            return
        if method == "GET" and len(parts) == 2:
            self._send(200, {"id": dataset.dataset_id, "title": dataset.title,
                             "resources": dataset.resources})  # fmt: skip
            return
        if method != "GET":
            if not key:
                self._send(401, {"message": "Unauthorized"})
                return
            if key != dataset.owner_key:
                self._send(403, {"message": "You do not have the permission to edit resources"})
                return
        self._write(method, dataset, parts[2:], body)

    def _write(self, method: str, dataset: Dataset, rest: list[str], body: bytes) -> None:
        portal = self.portal
        if method == "POST" and rest == ["upload"]:
            name, content = self._file(body)
            if name is None:
                self._send(400, {"message": "No file"})
                return
            self._send(*portal.upload(dataset, None, name, content))
        elif method == "POST" and len(rest) == 3 and rest[0] == "resources" and rest[2] == "upload":
            name, content = self._file(body)
            if name is None:
                self._send(400, {"message": "No file"})
                return
            self._send(*portal.upload(dataset, rest[1], name, content))
        elif method == "PUT" and len(rest) == 2 and rest[0] == "resources":
            resource = next((r for r in dataset.resources if r["id"] == rest[1]), None)
            if resource is None:
                self._send(404, {"message": "Resource does not exist"})
                return
            try:
                changes = json.loads(body)
            except ValueError:
                self._send(400, {"message": "Invalid JSON"})
                return
            allowed = {"title", "description", "format", "schema", "type", "mime"}
            resource.update({k: v for k, v in changes.items() if k in allowed})
            self._send(200, resource)
        else:
            self._send(405, {"message": "Method not allowed"})

    def _redirect(self, rid: str) -> None:
        for dataset in self.portal.datasets.values():
            for resource in dataset.resources:
                if resource["id"] == rid:
                    self._send(302, {}, {"Location": resource["url"]})
                    return
        self._send(404, {"message": "Resource does not exist"})

    def _file(self, body: bytes) -> tuple[str | None, bytes]:
        kind = self.headers.get("Content-Type", "")
        if not kind.startswith("multipart/form-data"):
            return None, b""
        parser = email.parser.BytesParser(policy=email.policy.HTTP)
        message = parser.parsebytes(b"Content-Type: " + kind.encode() + b"\r\n\r\n" + body)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                payload = part.get_payload(decode=True)
                return part.get_filename(), payload if isinstance(payload, bytes) else b""
        return None, b""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")
