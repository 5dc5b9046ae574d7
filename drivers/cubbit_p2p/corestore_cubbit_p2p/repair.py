"""Repair: rebuild missing or corrupt shards from any k authentic ones, without the user key.

The coordinator holds each file's integrity key, which is all repair needs: it reads k shards
(primaries first) with the same :class:`~.pipeline.StripeReader` as a download, checks every
block's tag, decodes to the padded primary blocks (still ciphertext), regenerates *only* the
missing block numbers with zfec, tags them and streams them to nodes that hold no shard of the
file. Reed-Solomon and the tags are deterministic, so a rebuilt shard is byte-identical to the
one it replaces. The new location is recorded by compare-and-swap; the old copy becomes garbage.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from . import store as st
from .codec import ErasureCode
from .crypto import block_tag
from .manifest import Manifest
from .pipeline import POOL, Placement, ShardSender, StripeReader
from .shardfile import same_digest

__all__ = ["repair_file", "usable_sources"]

log = logging.getLogger(__name__)


def usable_sources(info: dict) -> list[Placement]:
    """Shards worth reading, best first: ``ok`` before ``corrupt`` (a shard reported corrupt may
    have one bad record and many good ones; every block is checked anyway), alive nodes before
    suspects, primaries first (decoding them is free). Dead nodes are skipped."""
    shards = [
        s for s in info["shards"] if s["state"] in ("ok", "corrupt") and s["node_state"] != "dead"
    ]
    shards.sort(key=lambda s: (s["state"] != "ok", s["node_state"] != "alive", s["index"]))
    return [Placement(s["index"], s["node_id"], s["url"]) for s in shards]


async def repair_file(store: st.Store, session: aiohttp.ClientSession, file_id: str) -> bool:
    """Repair one file; ``True`` when nothing is left to do."""
    try:
        info = await store.run(st.file_info, file_id)
    except Exception:  # noqa: BLE001 - deleted meanwhile: nothing to repair
        return True
    manifest = Manifest.from_json(info["manifest"])
    sources = usable_sources(info)
    missing = [s for s in info["shards"] if s["state"] != "ok" or s["node_state"] == "dead"]
    if not missing:
        return True
    if len(sources) < manifest.k:
        log.error("file %s lost: %d of %d shards left", file_id, len(sources), manifest.k)
        await store.run(st.mark_lost, file_id)
        return True
    spares = await store.run(st.repair_targets, file_id, len(missing))
    # Prefer a node holding no shard of the file; a corrupt shard on a live node may otherwise be
    # rewritten in place (still one shard per node).
    missing.sort(key=lambda s: s["state"] == "corrupt" and s["node_state"] == "alive")
    placements = []
    for s in missing:
        if spares:
            t = spares.pop(0)
            placements.append(Placement(s["index"], t.node_id, t.url))
        elif s["state"] == "corrupt" and s["node_state"] == "alive":
            placements.append(Placement(s["index"], s["node_id"], s["url"]))
    if not placements:
        log.warning("file %s: no spare node to repair onto", file_id)
        return False
    missing = missing[: len(placements)]
    wanted = [s["index"] for s in missing]

    reports: list[tuple[int, str, str]] = []
    reader = StripeReader(session, manifest, sources, report=lambda *r: reports.append(r))
    senders = [ShardSender(p, file_id, depth=4, length=manifest.shard_size) for p in placements]
    code = ErasureCode(manifest.k, manifest.m)
    key, fid = manifest.integrity_key, manifest.uuid
    loop = asyncio.get_running_loop()

    parity_ids = [i for i in wanted if i >= manifest.k]

    def rebuild(c: int, blocks: dict[int, bytes]) -> list[tuple[bytes, bytes]]:
        primaries = code.decode(blocks)
        parity = (
            dict(zip(parity_ids, code.encode_some(primaries, parity_ids), strict=True))
            if parity_ids
            else {}
        )
        out = []
        for i in wanted:
            block = primaries[i] if i < manifest.k else parity[i]
            out.append((block, block_tag(key, fid, i, c, block)))
        return out

    try:
        async for c, blocks in reader.stripes(0, manifest.n_chunks - 1):
            records = await loop.run_in_executor(POOL, rebuild, c, blocks)
            for sender, record in zip(senders, records, strict=True):
                await sender.send(record, stall_timeout=30.0)
            if not any(s.alive for s in senders):
                break
        await asyncio.gather(*(s.finish() for s in senders))
    except BaseException:
        for s in senders:
            s.abort()
        await asyncio.gather(*(s.finish() for s in senders), return_exceptions=True)
        raise
    finally:
        for index, node_id, kind in reports:
            await store.run(st.report, file_id, index, node_id, kind)
    done = 0
    for sender, shard in zip(senders, missing, strict=True):
        if sender.alive and sender.result is not None:
            if same_digest(shard["digest"], sender.result["digest"]) is False:
                # Rebuilt shards are byte-identical to the originals; anything else is a bug
                # or a lying node, and must not replace the record of the original.
                log.error(
                    "file %s: rebuilt shard %s differs from the original", file_id, shard["index"]
                )
                continue
            swapped = await store.run(
                st.swap_shard,
                file_id,
                shard["index"],
                shard["node_id"],
                sender.placement.node_id,
                sender.result["size"],
                sender.result["digest"],
            )
            done += swapped
    log.info("file %s: repaired %d of %d shards", file_id, done, len(missing))
    return done == len(missing) and not reports
