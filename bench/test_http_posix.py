"""1 GiB upload and download through ``corestore serve``'s HTTP data path into posix, vs ``cp``.

The baseline is ``cp`` of the same 1 GiB file on the same disk, measured in the same run; the
figure of merit is ``cp time / HTTP time`` (1.0 = as fast as cp; the target is >= 0.5 each way).
The server runs as its own process with posix ``fsync = false``, because ``cp`` does not fsync
either: both sides write to the page cache. ``curl`` is the HTTP client (a native client, so the
measurement is the server's speed, not a Python client's).

* Uploads go to three posix mounts: ``/home`` with the driver's default ``checksum =
  "adler32"`` (computed while streaming), ``/sha1`` with ``checksum = "sha1"`` (what ownCloud
  clients and rclone compare) and ``/nosum`` with ``checksum = "none"``, to show each hash's cost.
  The target applies to the default.
* Downloads are timed with curl discarding the body: curl writes its output file in 16 KiB
  pieces, which alone takes longer than the whole server side. The time of a download into a
  file is recorded too (``extra_info["to_file_seconds"]``).

Run: ``uv run pytest bench/test_http_posix.py --benchmark-only -s``
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
from cs3.gateway.v1beta1 import gateway_api_pb2_grpc as gw_grpc
from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
from cs3.storage.provider.v1beta1 import resources_pb2 as spr
from cs3.types.v1beta1 import types_pb2

from corestore.launch import ServerProcess, posix_home_mount

GiB = 1 << 30
ROUNDS = 5  # the VM's page allocation makes single writes vary 4x (cp too): medians of 5
PATHS = {
    "adler32": "/home/einstein/bench.bin",
    "sha1": "/sha1/bench.bin",
    "none": "/nosum/bench.bin",
}

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None, reason="the benchmark uses curl as HTTP client"
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("bench-http")
    yield path
    shutil.rmtree(path, ignore_errors=True)  # several GiB: never leave them behind


@pytest.fixture(scope="module")
def source(workdir: Path) -> Path:
    path = workdir / "source.bin"
    block = bytes(range(256)) * 4096 * 4  # 4 MiB, varied bytes (no sparse-file shortcuts)
    with open(path, "wb") as fh:
        for _ in range(GiB // len(block)):
            fh.write(block)
    return path


class CpBaseline:
    """``cp`` of the source file, timed right before each HTTP round (interleaved, so both see
    the same disk state). Every timed operation starts after ``sync`` has flushed dirty pages:
    otherwise whichever runs later pays for the writeback of the earlier ones.

    With ``with_dd``, ``dd bs=1M`` is timed too: GNU cp copies in the kernel
    (``copy_file_range``), while a server can only ``write(2)`` what it receives, as ``dd`` does;
    that second figure shows what the page cache costs on this machine.
    """

    def __init__(self, source: Path, workdir: Path, *, with_dd: bool = False) -> None:
        self.source, self.target = source, workdir / "cp.bin"
        self.times: list[float] = []
        self.dd_times: list[float] = []
        self.with_dd = with_dd

    def _timed(self, command: list[str]) -> float:
        subprocess.run(["sync"], check=True)
        started = time.perf_counter()
        subprocess.run(command, check=True)
        elapsed = time.perf_counter() - started
        self.target.unlink()
        subprocess.run(["sync"], check=True)
        return elapsed

    def __call__(self) -> None:
        self.times.append(self._timed(["cp", str(self.source), str(self.target)]))
        if self.with_dd:
            dd = ["dd", f"if={self.source}", f"of={self.target}", "bs=1M", "status=none"]
            self.dd_times.append(self._timed(dd))

    @property
    def median(self) -> float:
        return statistics.median(self.times)


@pytest.fixture(scope="module")
def session(workdir: Path) -> Iterator[tuple[ServerProcess, gw_grpc.GatewayAPIStub, list]]:
    root = workdir / "server"
    scratch = "".join(
        f"""
[[mounts]]
path = "/{name}"
driver = "posix"
[mounts.options]
root = "{root / name}"
fsync = false
checksum = "{checksum}"
"""
        for name, checksum in (("sha1", "sha1"), ("nosum", "none"))
    )
    server = ServerProcess.start(
        root,
        mounts=posix_home_mount(root / "home", fsync=False) + scratch,
        server='log_level = "warning"',
    )
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = gw_grpc.GatewayAPIStub(channel)
        auth = stub.Authenticate(
            gw.AuthenticateRequest(type="basic", client_id="einstein", client_secret="relativity")
        )
        yield server, stub, [("x-access-token", auth.token)]
    server.stop()


def _upload_url(stub: gw_grpc.GatewayAPIStub, token: list, path: str) -> tuple[str, str]:
    opaque = types_pb2.Opaque(
        map={"Upload-Length": types_pb2.OpaqueEntry(decoder="plain", value=str(GiB).encode())}
    )
    res = stub.InitiateFileUpload(
        sp.InitiateFileUploadRequest(ref=spr.Reference(path=path), opaque=opaque), metadata=token
    )
    proto = next(p for p in res.protocols if p.protocol == "simple")
    return proto.upload_endpoint, proto.token


def _download_url(stub: gw_grpc.GatewayAPIStub, token: list, path: str) -> tuple[str, str]:
    res = stub.InitiateFileDownload(
        sp.InitiateFileDownloadRequest(ref=spr.Reference(path=path)), metadata=token
    )
    return res.protocols[0].download_endpoint, res.protocols[0].token


def _curl(*args: str) -> None:
    out = subprocess.run(
        ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{http_code}", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout in ("200", "201"), out


def _report(benchmark, what: str, baseline: CpBaseline) -> None:  # noqa: ANN001
    http = benchmark.stats.stats.median
    cp = baseline.median
    ratio = cp / http
    benchmark.extra_info.update(
        {
            "cp_seconds": cp,
            "http_seconds": http,
            "ratio_to_cp": ratio,
            "http_GiB_per_s": 1 / http,
            "cp_GiB_per_s": 1 / cp,
        }
    )
    print(
        f"\n{what}: HTTP {1 / http:.2f} GiB/s, cp {1 / cp:.2f} GiB/s, "
        f"ratio {ratio:.2f} (target >= 0.5)"
    )
    if baseline.dd_times:
        dd = statistics.median(baseline.dd_times)
        benchmark.extra_info.update({"dd_seconds": dd, "ratio_to_dd": dd / http})
        print(f"  (dd bs=1M, same bytes via write(2): {1 / dd:.2f} GiB/s, ratio {dd / http:.2f})")


def _remove(stub: gw_grpc.GatewayAPIStub, token: list, path: str) -> None:
    """Delete and purge a benchmark file, so no round pays for the previous ones' bytes."""
    stub.Delete(sp.DeleteRequest(ref=spr.Reference(path=path)), metadata=token)
    parent = path.rsplit("/", 1)[0] or "/"
    stub.PurgeRecycle(sp.PurgeRecycleRequest(ref=spr.Reference(path=parent)), metadata=token)


@pytest.mark.parametrize("checksum", ["adler32", "sha1", "none"])
def test_upload_1gib(benchmark, session, source: Path, workdir: Path, checksum: str) -> None:  # noqa: ANN001
    _, stub, token = session
    path = PATHS[checksum]
    baseline = CpBaseline(source, workdir, with_dd=True)
    urls: list[tuple[str, str]] = []

    def setup() -> None:
        _remove(stub, token, path)
        baseline()
        urls.append(_upload_url(stub, token, path))

    def upload() -> None:
        url, transfer = urls[-1]
        _curl("-T", str(source), "-H", f"X-Reva-Transfer: {transfer}", url)

    benchmark.pedantic(upload, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    _remove(stub, token, path)
    default = " (the driver's default)" if checksum == "adler32" else ""
    _report(benchmark, f"upload 1 GiB (posix checksum={checksum}{default})", baseline)


def test_download_1gib(benchmark, session, source: Path, workdir: Path) -> None:  # noqa: ANN001
    _, stub, token = session
    path = PATHS["none"]
    baseline = CpBaseline(source, workdir)
    url, transfer = _upload_url(stub, token, path)
    _curl("-T", str(source), "-H", f"X-Reva-Transfer: {transfer}", url)
    url, transfer = _download_url(stub, token, path)
    target = workdir / "download.bin"

    def download() -> None:
        _curl("-H", f"X-Reva-Transfer: {transfer}", url)

    benchmark.pedantic(download, setup=baseline, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    subprocess.run(
        ["curl", "-sS", "--fail", "-H", f"X-Reva-Transfer: {transfer}", "-o", str(target), url],
        check=True,
    )
    benchmark.extra_info["to_file_seconds"] = time.perf_counter() - started
    assert target.stat().st_size == GiB
    _report(benchmark, "download 1 GiB", baseline)
    print(
        f"download 1 GiB into a file with curl -o: {benchmark.extra_info['to_file_seconds']:.2f} s"
    )
