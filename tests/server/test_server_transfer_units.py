"""Pure helpers of the data path: read-ahead and Range parsing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from corestore.http.transfer import parse_range, prefetch
from corestore.resources import ByteRange


def test_prefetch_passes_chunks_and_errors_through() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"
        raise ValueError("backend broke")

    async def main() -> list[bytes]:
        got = []
        with pytest.raises(ValueError, match="backend broke"):
            async for chunk in prefetch(source()):
                got.append(chunk)
        return got

    assert asyncio.run(main()) == [b"a", b"b"]


def test_prefetch_reads_ahead_boundedly_and_closes_the_source_when_stopped() -> None:
    produced: list[int] = []

    async def main() -> tuple[list[int], bool]:
        done = asyncio.Event()

        async def source() -> AsyncIterator[bytes]:
            try:
                for i in range(100):
                    produced.append(i)
                    yield bytes([i])
            finally:
                done.set()

        stream = prefetch(source(), depth=2)
        assert await anext(stream) == b"\x00"
        await asyncio.sleep(0.05)
        ahead = len(produced)
        await stream.aclose()  # the consumer (a client) went away
        await asyncio.wait_for(done.wait(), 1)
        return produced[:ahead], done.is_set()

    ahead, was_closed = asyncio.run(main())
    assert len(ahead) <= 4 and was_closed


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, ByteRange(0, 5)),
        ("bytes=5-", 10, ByteRange(5, 5)),
        ("bytes=-3", 10, ByteRange(7, 3)),
        ("bytes=-30", 10, ByteRange(0, 10)),
        ("bytes=8-100", 10, ByteRange(8, 2)),
        ("bytes=0-1,4-5", 10, None),  # multi-range: send everything
        ("items=0-1", 10, None),
        ("bytes=5-2", 10, None),
        ("bytes=0-0", 0, None),  # an empty file ignores Range
    ],
)
def test_parse_range(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(ValueError):
        parse_range(header, 10)
