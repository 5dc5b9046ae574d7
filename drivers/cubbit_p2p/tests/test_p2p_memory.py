"""Bounded memory: a 2 GiB stream up and down keeps peak RSS growth under 64 MiB, about the same as
for 64 MiB. Measured in the process doing the streaming: the coordinator for /files, this test
process for the driver. The data is generated on the fly and never held or written by the test."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request

import pytest
from corestore_cubbit_p2p.driver import P2PDriver

from corestore import Reference, WriteOptions
from corestore.testing import PeakRSS, generated_stream

pytestmark = pytest.mark.slow

MiB = 1 << 20
SIZES = (64 * MiB, 2048 * MiB)
BOUND = 64 * MiB


def _generate(size: int, digest):
    block = os.urandom(MiB)
    for index in range(size // MiB):
        part = index.to_bytes(8, "little") + block[8:]
        digest.update(part)
        yield part


def _files_roundtrip(url: str, size: int) -> None:
    sent, got = hashlib.sha256(), hashlib.sha256()
    req = urllib.request.Request(
        f"{url}/files?chunk_size={MiB}",
        data=_generate(size, sent),
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(req, timeout=600) as resp:
        answer = json.load(resp)
    assert answer["size"] == size
    req = urllib.request.Request(
        f"{url}/files/{answer['file_id']}", headers={"X-Encryption-Key": answer["key"]}
    )
    with urllib.request.urlopen(req, timeout=600) as resp:
        while piece := resp.read(MiB):
            got.update(piece)
    assert got.hexdigest() == sent.hexdigest()
    urllib.request.urlopen(
        urllib.request.Request(
            f"{url}/files/{answer['file_id']}",
            method="DELETE",
            headers={"X-Encryption-Key": answer["key"]},
        )
    )


def _assert_flat(growth: dict[int, int], who: str) -> None:
    small, large = growth[SIZES[0]], growth[SIZES[1]]
    print(f"{who}: peak RSS growth 64 MiB -> {small / MiB:.1f} MiB, 2 GiB -> {large / MiB:.1f} MiB")
    assert large < BOUND, f"{who}: {large / MiB:.1f} MiB growth for 2 GiB"
    # Ratio against the small run, with a 4 MiB floor so allocator noise on a tiny number
    # cannot fail the test.
    assert large / max(small, 4 * MiB) < 1.5, f"{who}: grows with file size ({small} -> {large})"


def test_files_api_memory_is_bounded(swarm):
    growth = {}
    for size in SIZES:
        with PeakRSS(pid=swarm.coordinator.pid) as peak:
            _files_roundtrip(swarm.url, size)
        growth[size] = peak.growth
    _assert_flat(growth, "coordinator /files")


async def test_driver_memory_is_bounded(swarm):
    growth = {}
    async with P2PDriver.from_config(
        {"coordinator": swarm.url, "secret": "memory-test-secret-0123456789"}
    ) as driver:
        for size in SIZES:
            ref = Reference.of(f"/mem-{size}.bin")
            sent, got = hashlib.sha256(), hashlib.sha256()
            with PeakRSS() as peak:
                await driver.write(
                    ref, generated_stream(size, sent), WriteOptions(expected_size=size)
                )
                async for chunk in driver.open_read(ref):
                    got.update(chunk)
            assert got.hexdigest() == sent.hexdigest()
            await driver.delete(ref)
            growth[size] = peak.growth
    _assert_flat(growth, "driver (test process)")
