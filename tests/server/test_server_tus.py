"""tus 1.0 through the data path, driven by the ``tuspy`` client from PyPI."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cs3.gateway.v1beta1 import gateway_api_pb2_grpc as gw_grpc  # noqa: F401 - fixture type
from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
from cs3.storage.provider.v1beta1 import resources_pb2 as spr
from cs3.types.v1beta1 import types_pb2
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError

MiB = 1 << 20


def _opaque(**values: str) -> types_pb2.Opaque:
    return types_pb2.Opaque(
        map={
            k.replace("_", "-"): types_pb2.OpaqueEntry(decoder="plain", value=v.encode())
            for k, v in values.items()
        }
    )


def initiate_tus(gateway: Any, token: list, path: str, data: bytes) -> tuple[str, str]:
    opaque = _opaque(
        Upload_Length=str(len(data)), Upload_Checksum=f"sha256 {hashlib.sha256(data).hexdigest()}"
    )
    res = gateway.InitiateFileUpload(
        sp.InitiateFileUploadRequest(ref=spr.Reference(path=path), opaque=opaque), metadata=token
    )
    assert res.status.code == 1, res.status
    tus = next(p for p in res.protocols if p.protocol == "tus")
    return tus.upload_endpoint, tus.token


def read_back(gateway: Any, token: list, path: str) -> bytes:
    res = gateway.InitiateFileDownload(
        sp.InitiateFileDownloadRequest(ref=spr.Reference(path=path)), metadata=token
    )
    assert res.status.code == 1, res.status
    proto = res.protocols[0]
    got = requests.get(
        proto.download_endpoint, headers={"X-Reva-Transfer": proto.token}, timeout=60
    )
    assert got.status_code == 200
    return got.content


def head_offset(location: str, token: str) -> int:
    res = requests.head(
        location, headers={"Tus-Resumable": "1.0.0", "X-Reva-Transfer": token}, timeout=10
    )
    assert res.status_code == 200, res.text
    return int(res.headers["Upload-Offset"])


def cut_patch(location: str, token: str, offset: int, body: bytes, send: int) -> int:
    """A PATCH announcing ``len(body)`` bytes that sends ``send`` of them, then hangs up.

    It hangs up (with a reset) only once the server has staged some of those bytes, so the test
    does not depend on timing; returns the offset the server reports after the cut.
    """
    url = urlsplit(location)
    with socket.create_connection((url.hostname, url.port)) as sock:
        head = (
            f"PATCH {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nTus-Resumable: 1.0.0\r\n"
            f"X-Reva-Transfer: {token}\r\nUpload-Offset: {offset}\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[:send])
        deadline = time.monotonic() + 20
        while head_offset(location, token) == offset and time.monotonic() < deadline:
            time.sleep(0.05)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    deadline = time.monotonic() + 10
    previous = -1
    while (current := head_offset(location, token)) != previous and time.monotonic() < deadline:
        previous = current
        time.sleep(0.2)  # settled: the server has seen the reset
    return current


@pytest.fixture
def path(gateway: Any, einstein: list) -> str:
    folder = f"/home/einstein/tus-{uuid.uuid4().hex[:8]}"
    assert (
        gateway.CreateContainer(
            sp.CreateContainerRequest(ref=spr.Reference(path=folder)), metadata=einstein
        ).status.code
        == 1
    )
    return f"{folder}/big.bin"


def test_cut_upload_resumes_from_server_offset(gateway: Any, einstein: list, path: str) -> None:
    old = b"old content"
    endpoint, token = initiate_tus(gateway, einstein, path, old)
    TusClient(endpoint, headers={"X-Reva-Transfer": token}).uploader(
        file_stream=io.BytesIO(old), chunk_size=MiB
    ).upload()
    assert read_back(gateway, einstein, path) == old

    data = os.urandom(12 * MiB + 12345)
    endpoint, token = initiate_tus(gateway, einstein, path, data)
    client = TusClient(endpoint, headers={"X-Reva-Transfer": token})
    first = client.uploader(file_stream=io.BytesIO(data), chunk_size=2 * MiB, upload_checksum=True)
    first.upload(stop_at=4 * MiB)  # two clean PATCHes
    location = first.url
    assert head_offset(location, token) == 4 * MiB

    # the third PATCH is cut mid-stream: what arrived before the cut is kept
    offset = cut_patch(location, token, 4 * MiB, data[4 * MiB :], send=int(3.5 * MiB))
    assert 4 * MiB < offset <= int(7.5 * MiB)
    assert read_back(gateway, einstein, path) == old  # nothing is committed before the last byte

    # a new client resumes from the server's offset, with a freshly initiated token
    _, token2 = initiate_tus(gateway, einstein, path, data)
    resumed = TusClient(endpoint, headers={"X-Reva-Transfer": token2}).uploader(
        file_stream=io.BytesIO(data), chunk_size=2 * MiB, url=location, upload_checksum=True
    )
    assert resumed.offset == offset
    resumed.upload()

    stored = read_back(gateway, einstein, path)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    stat = gateway.Stat(sp.StatRequest(ref=spr.Reference(path=path)), metadata=einstein)
    assert stat.info.size == len(data)
    # the upload is gone from the staging area once committed
    res = requests.head(
        location, headers={"Tus-Resumable": "1.0.0", "X-Reva-Transfer": token2}, timeout=10
    )
    assert res.status_code == 404


def test_tus_checksum_mismatch_and_termination(gateway: Any, einstein: list, path: str) -> None:
    data = b"x" * 1000
    endpoint, token = initiate_tus(gateway, einstein, path, data)
    options = requests.options(endpoint, timeout=10)
    assert options.status_code == 204
    assert set(options.headers["Tus-Extension"].split(",")) >= {
        "creation",
        "termination",
        "checksum",
    }

    created = requests.post(
        endpoint, headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1000"}, timeout=10
    )
    assert created.status_code == 201
    location = created.headers["Location"]
    bad = requests.patch(
        location,
        data=data[:100],
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": "sha1 " + "A" * 27 + "=",
        },
        timeout=10,
    )
    assert bad.status_code == 460
    assert head_offset(location, token) == 0
    wrong_offset = requests.patch(
        location,
        data=data[:100],
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "50",
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=10,
    )
    assert wrong_offset.status_code == 409

    gone = requests.delete(location, headers={"Tus-Resumable": "1.0.0"}, timeout=10)
    assert gone.status_code == 204
    assert (
        requests.head(location, headers={"Tus-Resumable": "1.0.0"}, timeout=10).status_code == 404
    )


def test_tus_whole_file_checksum_is_verified(gateway: Any, einstein: list, path: str) -> None:
    data = b"the real content"
    endpoint, token = initiate_tus(gateway, einstein, path, data)
    tampered = b"the fake content"
    with pytest.raises(TusCommunicationError):
        TusClient(endpoint, headers={"X-Reva-Transfer": token}).uploader(
            file_stream=io.BytesIO(tampered), chunk_size=MiB
        ).upload()
    stat = gateway.Stat(sp.StatRequest(ref=spr.Reference(path=path)), metadata=einstein)
    assert stat.status.code == 6  # NOT_FOUND: nothing was stored


def _create(endpoint: str, token: str, length: int) -> str:
    created = requests.post(
        endpoint,
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(length), "X-Reva-Transfer": token},
        timeout=10,
    )
    assert created.status_code == 201
    return created.headers["Location"]


def test_single_patch_streams_into_the_driver(gateway: Any, einstein: list, path: str) -> None:
    """A whole file in one PATCH goes straight to the driver, yet a cut still resumes."""
    data = os.urandom(6 * MiB + 7)
    endpoint, token = initiate_tus(gateway, einstein, path, data)
    patch_headers = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}

    # a wrong per-request checksum: 460, nothing staged, nothing stored
    location = _create(endpoint, token, len(data))
    bad = requests.patch(
        location,
        data=data,
        timeout=30,
        headers={
            **patch_headers,
            "Upload-Offset": "0",
            "Upload-Checksum": "sha1 " + "A" * 27 + "=",
        },
    )
    assert bad.status_code == 460
    assert head_offset(location, token) == 0
    assert (
        gateway.Stat(sp.StatRequest(ref=spr.Reference(path=path)), metadata=einstein).status.code
        == 6
    )

    # cut halfway: the staged bytes survive, the driver committed nothing
    offset = cut_patch(location, token, 0, data, send=3 * MiB + 100)
    assert 0 < offset <= 3 * MiB + 100
    assert (
        gateway.Stat(sp.StatRequest(ref=spr.Reference(path=path)), metadata=einstein).status.code
        == 6
    )

    rest = requests.patch(
        location,
        data=data[offset:],
        timeout=30,
        headers={**patch_headers, "Upload-Offset": str(offset)},
    )
    assert rest.status_code == 204 and rest.headers["Upload-Offset"] == str(len(data))
    assert (
        hashlib.sha256(read_back(gateway, einstein, path)).digest() == hashlib.sha256(data).digest()
    )

    # and the common case: one PATCH, committed as it streams
    again = os.urandom(2 * MiB)
    endpoint, token = initiate_tus(gateway, einstein, path, again)
    location = _create(endpoint, token, len(again))
    done = requests.patch(
        location, data=again, timeout=30, headers={**patch_headers, "Upload-Offset": "0"}
    )
    assert done.status_code == 204 and done.headers["ETag"]
    assert read_back(gateway, einstein, path) == again
    assert (
        requests.head(
            location, headers={"Tus-Resumable": "1.0.0", "X-Reva-Transfer": token}, timeout=10
        ).status_code
        == 404
    )
