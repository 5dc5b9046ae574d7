"""A tiny blocking client of the /files API for the tests (urllib: no extra dependency)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid


class HTTPFailure(Exception):
    def __init__(self, status: int, body: bytes, got_body_bytes: int = 0) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status, self.body = status, body


def upload(url: str, data: bytes, **options: object) -> dict:
    """Raw body with the options in the query string."""
    query = urllib.parse.urlencode({k: v for k, v in options.items() if k != "key"})
    headers = {"Content-Type": "application/octet-stream"}
    if options.get("key"):
        headers["X-Encryption-Key"] = str(options["key"])
    req = urllib.request.Request(f"{url}/files?{query}", data=data, method="POST", headers=headers)
    return _json(req)


def upload_multipart(url: str, data: bytes, options: dict) -> dict:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="options"\r\n'
            f"Content-Type: application/json\r\n\r\n{json.dumps(options)}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        f"{url}/files",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    return _json(req)


def _json(req: urllib.request.Request) -> dict:
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        raise HTTPFailure(exc.code, exc.read()) from None


def download(url: str, file_id: str, key: str | None, byte_range: str | None = None) -> bytes:
    """The body; raises :class:`HTTPFailure` for an error status and ``http.client.IncompleteRead``
    (or a connection error) when the server aborts mid-body."""
    headers = {}
    if key:
        headers["X-Encryption-Key"] = key
    if byte_range:
        headers["Range"] = byte_range
    req = urllib.request.Request(f"{url}/files/{file_id}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise HTTPFailure(exc.code, exc.read()) from None


def delete(url: str, file_id: str, key: str | None) -> int:
    req = urllib.request.Request(
        f"{url}/files/{file_id}", method="DELETE", headers={"X-Encryption-Key": key} if key else {}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


ABORTED = (http.client.IncompleteRead, ConnectionError, http.client.RemoteDisconnected)
