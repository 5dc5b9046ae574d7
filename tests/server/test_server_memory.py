"""A 1 GiB upload and download through the data path keeps the server's peak RSS growth small."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests
from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
from cs3.storage.provider.v1beta1 import resources_pb2 as spr
from cs3.types.v1beta1 import types_pb2

from corestore.testing.memory import PeakRSS

GiB = 1 << 30
MiB = 1 << 20
LIMIT = 100 * MiB


class PatternFile:
    """A file-like body of ``size`` bytes that is never held in memory (requests sends it with a
    Content-Length because it has ``__len__``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0
        self.block = bytes(range(256)) * (4 * MiB // 256)
        self.sha256 = hashlib.sha256()

    def __len__(self) -> int:
        return self.size - self.sent

    def read(self, n: int = -1) -> bytes:
        n = len(self.block) if n < 0 else min(n, len(self.block))
        chunk = self.block[: min(n, self.size - self.sent)]
        self.sent += len(chunk)
        self.sha256.update(chunk)
        return chunk


def _initiate(gateway: Any, token: list, method: str, path: str, size: int | None = None) -> Any:
    if method == "upload":
        opaque = types_pb2.Opaque(
            map={"Upload-Length": types_pb2.OpaqueEntry(decoder="plain", value=str(size).encode())}
        )
        res = gateway.InitiateFileUpload(
            sp.InitiateFileUploadRequest(ref=spr.Reference(path=path), opaque=opaque),
            metadata=token,
        )
    else:
        res = gateway.InitiateFileDownload(
            sp.InitiateFileDownloadRequest(ref=spr.Reference(path=path)), metadata=token
        )
    assert res.status.code == 1, res.status
    return next(p for p in res.protocols if p.protocol == "simple")


def _roundtrip(gateway: Any, token: list, path: str, size: int) -> tuple[str, str]:
    proto = _initiate(gateway, token, "upload", path, size)
    body = PatternFile(size)
    res = requests.put(
        proto.upload_endpoint, data=body, headers={"X-Reva-Transfer": proto.token}, timeout=600
    )
    assert res.status_code == 200, res.text
    proto = _initiate(gateway, token, "download", path)
    digest = hashlib.sha256()
    with requests.get(
        proto.download_endpoint, headers={"X-Reva-Transfer": proto.token}, stream=True, timeout=600
    ) as got:
        assert got.status_code == 200
        for chunk in got.iter_content(MiB):
            digest.update(chunk)
    return body.sha256.hexdigest(), digest.hexdigest()


@pytest.mark.slow
def test_1gib_roundtrip_keeps_server_rss_bounded(server: Any, gateway: Any, einstein: list) -> None:
    path = "/home/einstein/one-gib.bin"
    _roundtrip(gateway, einstein, path, 8 * MiB)  # warm up: imports, buffers, thread pool
    with PeakRSS(pid=server.pid, interval=0.002) as peak:
        sent, received = _roundtrip(gateway, einstein, path, GiB)
    assert sent == received
    print(f"\nserver peak RSS growth during a 1 GiB upload + download: {peak.growth / MiB:.1f} MiB")
    assert peak.growth < LIMIT, (
        f"server RSS grew by {peak.growth / MiB:.1f} MiB during a 1 GiB round trip"
    )
    gateway.Delete(sp.DeleteRequest(ref=spr.Reference(path=path)), metadata=einstein)
    gateway.PurgeRecycle(
        sp.PurgeRecycleRequest(ref=spr.Reference(path="/home/einstein")), metadata=einstein
    )
