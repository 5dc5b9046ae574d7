"""Placement by weighted rendezvous (highest random weight) hashing.

Each node scores ``-free / ln(u)`` with ``u`` a uniform hash of (file id, node id): the classic
weighted HRW, so a node with twice the free space wins about twice as often, the order is
deterministic per file (reproducible tests, stable spares), and adding or removing a node only
moves the files it wins or loses. One shard per node: the first m nodes of the order get shards,
the rest are spares for repair.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Candidate", "rank"]


@dataclass(frozen=True)
class Candidate:
    node_id: str
    url: str
    free: int
    zone: str = ""


def _score(file_id: str, node: Candidate) -> float:
    digest = hashlib.sha256(f"{file_id}|{node.node_id}".encode()).digest()
    u = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)  # in (0, 1)
    return -max(node.free, 1) / math.log(u)


def rank(file_id: str, nodes: Iterable[Candidate], need: int = 0) -> list[Candidate]:
    """Nodes in placement order; the first ``need`` prefer distinct zones when zones are set."""
    ordered = sorted(nodes, key=lambda n: _score(file_id, n), reverse=True)
    if not need or not any(n.zone for n in ordered):
        return ordered
    chosen: list[Candidate] = []
    zones: set[str] = set()
    for n in ordered:  # first pass: one per zone
        if len(chosen) < need and n.zone not in zones:
            chosen.append(n)
            zones.add(n.zone)
    rest: Sequence[Candidate] = [n for n in ordered if n not in chosen]
    return chosen + list(rest)
