"""Fixtures: a real swarm (a coordinator and 6 node processes) per test module."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the p2p_* helper modules

from p2p_swarm import Swarm  # noqa: E402

# Every ChunkCipher in the tests and in the swarm processes asserts that no nonce is reused.
os.environ["CORESTORE_P2P_TRACK_NONCES"] = "1"


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory):
    s = Swarm(tmp_path_factory.mktemp("swarm"), 6, dead_after=10.0)
    yield s
    s.stop()
