"""Path validation and the streaming helpers every driver shares."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from corestore.errors import ChecksumMismatch, InvalidArgument, InvalidPath, PathEscape
from corestore.paths import parent_path, split_path
from corestore.resources import ByteRange, Checksum, Reference, WriteOptions
from corestore.streams import StreamDigest, rechunk


@pytest.mark.parametrize(
    ("path", "segments"),
    [("/", ()), (".", ()), ("/a//b/./c/", ("a", "b", "c")), ("./x", ("x",)), ("/é/日本", ("é", "日本"))],
)
def test_split_path(path: str, segments: tuple[str, ...]) -> None:
    assert split_path(path) == segments


@pytest.mark.parametrize("path", ["/..", "/a/../b", "./..", "/a/b/../../.."])
def test_dotdot_is_refused(path: str) -> None:
    with pytest.raises(PathEscape):
        split_path(path)


@pytest.mark.parametrize("path", ["/a\x00b", "/" + "n" * 256, "/a" * 2100])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(InvalidPath):
        split_path(path)


def test_parent_path() -> None:
    assert parent_path("/a/b/c") == "/a/b"
    assert parent_path("/") == "/"


def test_reference_shapes() -> None:
    assert str(Reference.of("/a")) == "/a"
    assert str(Reference.by_id("X", "./b")) == "id:X/b"
    with pytest.raises(ValueError):
        Reference(path="relative")


def test_byte_range_clamp() -> None:
    assert ByteRange(5, 10).clamp(8) == (5, 8)
    assert ByteRange(10).clamp(5) == (10, 10)


async def _stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_rechunk_bounds_chunk_sizes() -> None:
    data = bytes(range(256)) * 1000
    parts = [data[i : i + 777] for i in range(0, len(data), 777)]
    out = [c async for c in rechunk(_stream(*parts), 4096)]
    assert b"".join(out) == data
    assert all(len(c) == 4096 for c in out[:-1]) and 0 < len(out[-1]) <= 4096


def test_stream_digest_checks_size_and_checksum() -> None:
    data = b"hello world"
    digest = StreamDigest("sha1", WriteOptions(expected_size=11, checksum=Checksum("md5", hashlib.md5(data).hexdigest())))
    digest.update(data[:5])
    digest.update(data[5:])
    assert digest.verify() == Checksum("sha1", hashlib.sha1(data).hexdigest())

    wrong = StreamDigest(None, WriteOptions(checksum=Checksum("SHA1", "00" * 20)))
    wrong.update(data)
    with pytest.raises(ChecksumMismatch):
        wrong.verify()

    short = StreamDigest("adler32", WriteOptions(expected_size=20))
    short.update(data)
    with pytest.raises(InvalidArgument):
        short.verify()

    long = StreamDigest("adler32", WriteOptions(expected_size=3))
    with pytest.raises(InvalidArgument):
        long.update(data)


def test_unknown_checksum_type() -> None:
    with pytest.raises(InvalidArgument):
        StreamDigest("crc99")
