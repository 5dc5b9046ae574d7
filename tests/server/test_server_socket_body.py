"""Large bodies bypass aiohttp's parser (``SocketBody``); every client still sees plain HTTP.

Each transfer here is above ``socketbody.MIN_SIZE``, on a posix mount (which pumps the body in
one thread) and on the memory driver (which iterates it), through the simple data path, tus and
WebDAV PUT.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
from cs3.storage.provider.v1beta1 import resources_pb2 as spr

from corestore.http.socketbody import MIN_SIZE

from .test_server_tus import initiate_tus, read_back

SIZE = MIN_SIZE + (3 << 20) + 17  # not a multiple of the chunk size
DATA = os.urandom(SIZE)


def initiate_simple(gateway: Any, token: list, path: str) -> tuple[str, str]:
    res = gateway.InitiateFileUpload(
        sp.InitiateFileUploadRequest(ref=spr.Reference(path=path)), metadata=token
    )
    assert res.status.code == 1, res.status
    simple = next(p for p in res.protocols if p.protocol == "simple")
    return simple.upload_endpoint, simple.token


@pytest.mark.parametrize("mount", ["/home/einstein", "/scratch"])
def test_large_put_then_the_connection_closes(gateway: Any, einstein: list, mount: str) -> None:
    path = f"{mount}/big-{uuid.uuid4().hex[:8]}.bin"
    endpoint, token = initiate_simple(gateway, einstein, path)
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("PUT", url.path, body=DATA, headers={"X-Reva-Transfer": token})
    res = conn.getresponse()
    assert res.status == 200, res.read()
    res.read()
    # The parser never saw the body: a keep-alive request would be parsed as body bytes.
    assert res.getheader("Connection") == "close"
    assert conn.sock is None  # http.client closed it, as asked
    assert (
        hashlib.sha256(read_back(gateway, einstein, path)).digest() == hashlib.sha256(DATA).digest()
    )


def test_small_put_keeps_the_connection(gateway: Any, einstein: list) -> None:
    path = f"/home/einstein/small-{uuid.uuid4().hex[:8]}.bin"
    endpoint, token = initiate_simple(gateway, einstein, path)
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("PUT", url.path, body=b"s" * 1000, headers={"X-Reva-Transfer": token})
    res = conn.getresponse()
    res.read()
    assert res.status == 200 and res.getheader("Connection") != "close"
    conn.request("GET", "/healthz")  # the same connection serves the next request
    assert conn.getresponse().status == 200


@pytest.mark.parametrize("mount", ["/home/einstein", "/scratch"])
def test_large_tus_patch(gateway: Any, einstein: list, mount: str) -> None:
    path = f"{mount}/tus-{uuid.uuid4().hex[:8]}.bin"
    endpoint, token = initiate_tus(gateway, einstein, path, DATA)
    headers = {"Tus-Resumable": "1.0.0", "X-Reva-Transfer": token}
    created = requests.post(endpoint, headers={**headers, "Upload-Length": str(SIZE)}, timeout=30)
    assert created.status_code == 201, created.text
    patched = requests.patch(
        created.headers["Location"],
        data=DATA,
        headers={
            **headers,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=60,
    )
    assert patched.status_code == 204, patched.text
    assert int(patched.headers["Upload-Offset"]) == SIZE
    assert read_back(gateway, einstein, path) == DATA


def test_large_webdav_put(server: Any, gateway: Any, einstein: list) -> None:
    name = f"dav-{uuid.uuid4().hex[:8]}.bin"
    url = f"{server.http_url}/remote.php/dav/files/einstein/{name}"
    put = requests.put(url, data=DATA, auth=("einstein", "relativity"), timeout=60)
    assert put.status_code in (201, 204), put.text
    got = requests.get(url, auth=("einstein", "relativity"), timeout=60)
    assert got.content == DATA


def test_bytes_are_counted(server: Any, gateway: Any, einstein: list) -> None:
    def received() -> float:
        text = requests.get(f"{server.http_url}/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("corestore_data_bytes_total{") and 'direction="in"' in line
        )

    before = received()
    endpoint, token = initiate_simple(gateway, einstein, f"/home/einstein/m-{uuid.uuid4().hex}")
    assert requests.put(endpoint, data=DATA, headers={"X-Reva-Transfer": token}).status_code == 200
    assert received() - before >= SIZE
