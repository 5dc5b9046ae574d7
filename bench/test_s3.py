"""Throughput of the s3 driver against s3fs used directly, on the same moto server, same run.

For each direction, s3fs moves the same file first (the baseline: ``put_file``, its own
multipart upload, and reading an s3fs file object to the end, its ranged readahead GETs; no
corestore in the path), then the driver does
(``write`` from a chunk stream, ``open_read`` to the end). The number to read is
``extra_info["ratio_to_s3fs"]``: driver throughput / s3fs throughput (1.0 = as fast as s3fs;
higher is better). Absolute speeds are printed too but depend on the machine, and moto
itself (one Python process) is the bottleneck of both.

    uv run pytest bench/test_s3.py --benchmark-columns=min,max,rounds -s

``CORESTORE_BENCH_S3_SIZE`` sets the file size (default ``1GiB``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from corestore_s3 import S3Driver
from corestore_s3.testing import MotoServer, driver_config, start_moto, stop_moto

from corestore.config import parse_size
from corestore.resources import Reference, WriteOptions
from corestore.testing.bench import report_throughput, write_generated_file

SIZE = parse_size(os.environ.get("CORESTORE_BENCH_S3_SIZE", "1GiB"))
ROUNDS = 2
CHUNK = 1 << 20


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = start_moto()
    yield server
    stop_moto(server)


@pytest.fixture(scope="module")
def bucket(moto: MotoServer) -> str:
    return moto.new_bucket(versioned=False)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file of SIZE random-ish bytes that both clients upload (warm in the page cache)."""
    return write_generated_file(tmp_path_factory.mktemp("src") / "source.bin", SIZE, CHUNK)


def _s3fs(moto: MotoServer):  # noqa: ANN202 - an s3fs.S3FileSystem
    import s3fs

    return s3fs.S3FileSystem(
        endpoint_url=moto.endpoint, key="testing", secret="testing",
        client_kwargs={"region_name": "us-east-1"}, skip_instance_cache=True,
    )  # fmt: skip


def _s3fs_read(fs, path: str) -> None:  # noqa: ANN001
    """Stream the object through an s3fs file (its readahead ranged GETs), discarding it."""
    count = 0
    with fs.open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            count += len(chunk)
    assert count == SIZE


def _timed(action) -> float:  # noqa: ANN001
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk


async def _driver_upload(moto: MotoServer, bucket: str, source: Path, name: str) -> None:
    async with S3Driver.from_config(driver_config(moto, bucket)) as driver:
        await driver.write(
            Reference.of(f"/{name}"), _file_chunks(source), WriteOptions(expected_size=SIZE)
        )


async def _driver_download(moto: MotoServer, bucket: str, name: str) -> None:
    async with S3Driver.from_config(driver_config(moto, bucket)) as driver:
        count = 0
        async for chunk in driver.open_read(Reference.of(f"/{name}")):
            count += len(chunk)
        assert count == SIZE


def _report(benchmark, direction: str, s3fs_seconds: float) -> None:  # noqa: ANN001
    report_throughput(
        benchmark, f"moto {direction}", size=SIZE, seconds=benchmark.stats.stats.min,
        baseline="s3fs", baseline_seconds=s3fs_seconds,
    )


def test_upload_vs_s3fs(benchmark, moto: MotoServer, bucket: str, source: Path) -> None:  # noqa: ANN001
    fs = _s3fs(moto)
    s3fs_seconds = min(
        _timed(lambda: fs.put_file(str(source), f"{bucket}/s3fs-up.bin")) for _ in range(ROUNDS)
    )
    benchmark.pedantic(
        lambda: asyncio.run(_driver_upload(moto, bucket, source, "driver-up.bin")),
        rounds=ROUNDS, iterations=1,
    )  # fmt: skip
    assert fs.size(f"{bucket}/driver-up.bin") == SIZE
    _report(benchmark, "upload", s3fs_seconds)


def test_download_vs_s3fs(benchmark, moto: MotoServer, bucket: str, source: Path) -> None:  # noqa: ANN001
    fs = _s3fs(moto)
    asyncio.run(_driver_upload(moto, bucket, source, "down.bin"))
    s3fs_seconds = min(_timed(lambda: _s3fs_read(fs, f"{bucket}/down.bin")) for _ in range(ROUNDS))
    benchmark.pedantic(
        lambda: asyncio.run(_driver_download(moto, bucket, "down.bin")), rounds=ROUNDS, iterations=1
    )
    _report(benchmark, "download", s3fs_seconds)
