"""Reporting for benchmarks: throughput as a ratio to a baseline measured in the same run.

Absolute speeds depend on the machine and its load; a ratio to a baseline timed moments before
on the same data (``cp``, ``curl``, the backend's own client) is what stays comparable. Every
corestore benchmark reports through :func:`report_throughput`, so every figure reads the same
way: **driver throughput ÷ baseline throughput, higher is better, 1.0 = as fast as the baseline**.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["report_throughput", "write_generated_file"]


def report_throughput(
    benchmark: Any,
    label: str,
    *,
    size: int,
    seconds: float,
    baseline: str,
    baseline_seconds: float,
) -> float:
    """Record and print one throughput ratio; return it.

    :param benchmark: the pytest-benchmark fixture (its ``extra_info`` lands in the JSON report).
    :param label: what was measured, e.g. ``"wsgidav upload"``.
    :param size: bytes moved by both the measured operation and the baseline.
    """
    ratio = baseline_seconds / seconds
    mib_s = size / seconds / 2**20
    base_mib_s = size / baseline_seconds / 2**20
    benchmark.extra_info.update(
        {
            "size": size,
            "seconds": round(seconds, 3),
            "MiB_per_s": round(mib_s, 1),
            f"{baseline}_seconds": round(baseline_seconds, 3),
            f"{baseline}_MiB_per_s": round(base_mib_s, 1),
            f"ratio_to_{baseline}": round(ratio, 3),
        }
    )
    print(
        f"\n{label} {size / 2**30:.2f} GiB: {mib_s:.0f} MiB/s vs {baseline} {base_mib_s:.0f} MiB/s "
        f"-> throughput ratio {ratio:.2f}"
    )
    return ratio


def write_generated_file(path: Path, size: int, chunk: int = 1 << 20) -> Path:
    """Write ``size`` incompressible bytes to ``path`` for a benchmark's clients to move.

    Each chunk starts with its index, so no two chunks are equal (no dedup or sparse-file
    shortcuts on either side); only one random block is generated, so writing stays cheap.
    """
    block = os.urandom(chunk)
    with path.open("wb") as out:
        for index in range(size // chunk):
            out.write(index.to_bytes(8, "little") + block[8:])
        out.write(block[: size % chunk])
    return path
