"""Typed, strict configuration: unknown keys, wrong types and missing keys name the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from corestore.config import ByteSize, describe_options, option, parse_options, parse_size
from corestore.errors import ConfigError


@dataclass(frozen=True)
class Opts:
    root: Path = option(doc="where")
    chunk: ByteSize = option(ByteSize(1 << 20), doc="chunk size")
    fsync: bool = option(True, doc="durable writes")
    mode: Literal["fast", "safe"] = option("safe", doc="mode")
    token: str | None = option(None, doc="secret", secret=True)
    tags: list[str] = option([], doc="tags")


def test_parses_and_coerces() -> None:
    opts = parse_options(Opts, {"root": "/x", "chunk": "4MiB", "tags": ["a"]}, section="t", environ={})
    assert opts == Opts(root=Path("/x"), chunk=4 << 20, tags=["a"])


def test_unknown_key_names_the_key_and_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown option 'rooot' for t; known options: chunk, fsync, mode, root, tags, token"):
        parse_options(Opts, {"root": "/x", "rooot": "/y"}, section="t", environ={})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"root": 3}, r"t\.root: expected a path"),
        ({"root": "/x", "fsync": "yes"}, r"t\.fsync: expected true or false"),
        ({"root": "/x", "chunk": "lots"}, r"t\.chunk: not a size"),
        ({"root": "/x", "mode": "turbo"}, r"t\.mode: must be one of 'fast', 'safe'"),
        ({"root": "/x", "tags": "a"}, r"t\.tags: expected a list"),
        ({}, r"missing required option 'root' for t"),
    ],
)
def test_bad_values_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_options(Opts, raw, section="t", environ={})


def test_environment_overrides() -> None:
    env = {"CORESTORE_T_FSYNC": "false", "CORESTORE_T_TOKEN": "s3cret", "CORESTORE_T_TAGS": "a, b"}
    opts = parse_options(Opts, {"root": "/x"}, section="t", environ=env)
    assert (opts.fsync, opts.token, opts.tags) == (False, "s3cret", ["a", "b"])


def test_describe_hides_secrets() -> None:
    rows = {name: (typ, default, doc) for name, typ, default, doc in describe_options(Opts)}
    assert rows["root"][1] == "(required)"
    assert rows["chunk"][2] == "chunk size"


@pytest.mark.parametrize(("text", "value"), [("4096", 4096), ("64MiB", 64 << 20), ("1G", 10**9), ("1.5KiB", 1536), (7, 7)])
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value
