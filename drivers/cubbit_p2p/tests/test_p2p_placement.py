"""Weighted rendezvous placement: deterministic, proportional to free space, zone-aware."""

from __future__ import annotations

import collections
import uuid

from corestore_cubbit_p2p.placement import Candidate, rank


def test_deterministic_and_distinct():
    nodes = [Candidate(f"n{i}", f"http://n{i}", 100) for i in range(10)]
    fid = str(uuid.uuid4())
    first = [n.node_id for n in rank(fid, nodes)]
    assert first == [n.node_id for n in rank(fid, list(reversed(nodes)))]
    assert len(set(first)) == 10


def test_weighted_by_free_space():
    nodes = [Candidate("big", "u", 300), *(Candidate(f"s{i}", "u", 100) for i in range(3))]
    wins = collections.Counter(rank(str(uuid.uuid4()), nodes)[0].node_id for _ in range(6000))
    share = wins["big"] / 6000
    assert 0.44 < share < 0.56  # 300 / (300 + 3 * 100) = 0.5


def test_removing_a_node_moves_only_its_files():
    nodes = [Candidate(f"n{i}", "u", 100) for i in range(8)]
    files = [str(uuid.uuid4()) for _ in range(500)]
    before = {f: rank(f, nodes)[0].node_id for f in files}
    after = {f: rank(f, nodes[:-1])[0].node_id for f in files}
    moved = [f for f in files if before[f] != after[f]]
    assert all(before[f] == "n7" for f in moved)


def test_prefers_distinct_zones():
    nodes = [Candidate(f"a{i}", "u", 1000, "a") for i in range(4)] + [
        Candidate("b0", "u", 1, "b"),
        Candidate("c0", "u", 1, "c"),
    ]
    chosen = rank(str(uuid.uuid4()), nodes, need=3)[:3]
    assert {n.zone for n in chosen} == {"a", "b", "c"}
