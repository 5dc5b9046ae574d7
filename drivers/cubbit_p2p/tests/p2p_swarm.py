"""Test constants and the process swarm (which lives in the package so the benchmarks share it)."""

from corestore_cubbit_p2p.localswarm import Swarm

CHUNK = 4096  # small chunks: many chunks per file, fast tests

__all__ = ["CHUNK", "Swarm"]
