"""Fixtures: a real swarm (coordinator + node processes) per module, or per test when it kills nodes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the p2p_* helper modules

from p2p_swarm import Swarm  # noqa: E402


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory):
    s = Swarm(tmp_path_factory.mktemp("swarm"), 6)
    yield s
    s.stop()


@pytest.fixture
def fresh_swarm(tmp_path: Path):
    """A swarm of its own, for tests that kill nodes."""
    s = Swarm(tmp_path, 7)
    yield s
    s.stop()

