"""Throughput of the webdav driver against ``curl``, on the same WebDAV server, in the same run.

For each server (wsgidav, rclone serve webdav) and direction, curl moves the same file first
(the baseline: a C client with no Python in the path), then the driver does. The number to read is
``extra_info["ratio_to_curl"]``: driver throughput / curl throughput (1.0 = as fast as curl;
higher is better). Absolute speeds are printed and stored too but depend on the machine.

    uv run pytest bench/test_webdav.py --benchmark-columns=min,max,rounds -s

``CORESTORE_BENCH_WEBDAV_SIZE`` sets the file size (default ``1GiB``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from corestore_webdav import WebdavDriver
from corestore_webdav.servers import WebdavServer, start_rclone, start_wsgidav

from corestore.config import parse_size
from corestore.resources import Reference, WriteOptions
from corestore.testing.bench import report_throughput, write_generated_file

SIZE = parse_size(os.environ.get("CORESTORE_BENCH_WEBDAV_SIZE", "1GiB"))
ROUNDS = 2
CHUNK = 1 << 20
USER, PASSWORD = "bench", "bench-password"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file of SIZE random-ish bytes that both clients upload (warm in the page cache)."""
    return write_generated_file(tmp_path_factory.mktemp("src") / "source.bin", SIZE, CHUNK)


@pytest.fixture(scope="module", params=["wsgidav", "rclone"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebdavServer]:
    if request.param == "rclone" and shutil.which("rclone") is None:
        pytest.skip("rclone is not installed")
    base = tmp_path_factory.mktemp(request.param)
    (base / "data").mkdir()
    start = start_wsgidav if request.param == "wsgidav" else start_rclone
    with start(base / "data", base / "run", username=USER, password=PASSWORD) as srv:
        yield srv


def _curl(server: WebdavServer, *args: str) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        ["curl", "-sS", "-u", f"{USER}:{PASSWORD}", "-o", "/dev/null", "-w", "%{http_code}", *args],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - began
    if done.returncode or not done.stdout.startswith("2"):
        log = server.log.read_text()[-2000:]
        pytest.fail(
            f"curl {args[0]} failed: HTTP {done.stdout} {done.stderr}\n{server.kind} log:\n{log}"
        )
    return elapsed


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk


async def _driver_upload(server: WebdavServer, source: Path, name: str) -> None:
    async with WebdavDriver.from_config(server.driver_config()) as driver:
        await driver.write(
            Reference.of(f"/{name}"), _file_chunks(source), WriteOptions(expected_size=SIZE)
        )


async def _driver_download(server: WebdavServer, name: str) -> None:
    async with WebdavDriver.from_config(server.driver_config()) as driver:
        count = 0
        async for chunk in driver.open_read(Reference.of(f"/{name}")):
            count += len(chunk)
        assert count == SIZE


def _report(benchmark, server: WebdavServer, direction: str, curl_seconds: float) -> None:  # noqa: ANN001
    report_throughput(
        benchmark, f"{server.kind} {direction}", size=SIZE, seconds=benchmark.stats.stats.min,
        baseline="curl", baseline_seconds=curl_seconds,
    )


def test_upload_vs_curl(benchmark, server: WebdavServer, source: Path) -> None:  # noqa: ANN001
    curl_seconds = min(
        _curl(server, "-T", str(source), f"{server.url}curl-up.bin") for _ in range(ROUNDS)
    )
    benchmark.pedantic(
        lambda: asyncio.run(_driver_upload(server, source, "driver-up.bin")),
        rounds=ROUNDS,
        iterations=1,
    )
    assert (server.root / "driver-up.bin").stat().st_size == SIZE
    _report(benchmark, server, "upload", curl_seconds)


def test_download_vs_curl(benchmark, server: WebdavServer, source: Path) -> None:  # noqa: ANN001
    _curl(
        server, "-T", str(source), f"{server.url}down.bin"
    )  # through the server: rclone caches listings
    curl_seconds = min(_curl(server, f"{server.url}down.bin") for _ in range(ROUNDS))
    benchmark.pedantic(
        lambda: asyncio.run(_driver_download(server, "down.bin")), rounds=ROUNDS, iterations=1
    )
    _report(benchmark, server, "download", curl_seconds)
