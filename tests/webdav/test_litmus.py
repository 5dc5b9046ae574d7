"""litmus, the WebDAV conformance suite, against the front end on a posix mount."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable

import pytest

from corestore.launch import ServerProcess

SUITES = ("basic", "copymove", "props", "locks", "http")
_SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


def run_litmus(
    litmus: str, url: str, suites: tuple[str, ...], cwd: str
) -> tuple[dict[str, tuple[int, int, int]], str]:
    env = {**os.environ, "TESTS": " ".join(suites)}
    proc = subprocess.run(
        [litmus, "-k", url, "einstein", "relativity"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    counts = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in _SUMMARY.finditer(out)}
    return counts, out


@pytest.mark.parametrize(
    "prefix, suites",
    [
        ("/remote.php/dav/files/einstein/", SUITES),
        ("/dav/files/einstein/", ("basic", "copymove")),
        ("/remote.php/webdav/", ("basic", "locks")),
    ],
)
def test_litmus(
    dav_server: ServerProcess,
    require_binary: Callable[[str], str],
    tmp_path,
    prefix: str,
    suites: tuple[str, ...],
) -> None:
    litmus = require_binary("litmus")
    counts, out = run_litmus(litmus, dav_server.http_url + prefix, suites, str(tmp_path))
    assert set(counts) == set(suites), out[-3000:]
    failed = {suite: c for suite, c in counts.items() if c[2] != 0 or c[0] != c[1]}
    assert not failed, out[-5000:]
    assert "WARNING" not in out, out[-5000:]
