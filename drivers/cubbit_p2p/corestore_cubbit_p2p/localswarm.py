"""A local swarm of separate processes (coordinator + nodes on loopback), for tests and benchmarks.

Nodes can be killed (SIGKILL) and restarted by index, and shard files located on disk, so tests
exercise real processes, real HTTP and real files rather than mocks.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port_block(count: int) -> int:
    """A base port with ``count`` consecutive free ports after it.

    Drawn below Linux's ephemeral range (32768 and up), so that the outgoing connections and
    random listeners of other processes cannot take a port between this check and the bind.
    """
    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(20000, 32000 - count)
        ok = True
        for p in range(base, base + count + 1):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port block")


class Swarm:
    """Processes of one swarm; nodes can be killed and restarted by index."""

    def __init__(
        self,
        directory: Path,
        nodes: int,
        *,
        heartbeat: float = 0.5,
        dead_after: float = 2.0,
        chunk_size: int = 4096,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.n = nodes
        self.heartbeat, self.dead_after = heartbeat, dead_after
        self.chunk_size, self.extra = chunk_size, extra
        self.base = [sys.executable, "-m", "corestore.cli", "swarm"]
        self.log = open(directory / "swarm.log", "ab")  # noqa: SIM115
        for attempt in range(3):  # a port taken between probing and binding: try another block
            self.port = free_port_block(nodes + 1)
            self.url = f"http://127.0.0.1:{self.port}"
            self.coordinator = self._start_coordinator()
            self.nodes: list[subprocess.Popen | None] = [self._start_node(i) for i in range(nodes)]
            try:
                self.wait_alive(nodes, timeout=90)
                break
            except RuntimeError:
                self.stop(close_log=False)
                if attempt == 2:
                    raise
        self.node_ids = [
            (directory / f"node{i}" / "node_id").read_text().strip() for i in range(nodes)
        ]

    def _start_coordinator(self) -> subprocess.Popen:
        return subprocess.Popen(
            [
                *self.base,
                "coordinator",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--db",
                str(self.db_path),
                "--heartbeat",
                str(self.heartbeat),
                "--dead-after",
                str(self.dead_after),
                "--chunk-size",
                str(self.chunk_size),
                "--checker-interval",
                "1",
                "--audit-interval",
                "3600",
                *self.extra,
            ],
            stdout=self.log,
            stderr=self.log,
        )

    def restart_coordinator(self) -> None:
        """Kill the coordinator (SIGKILL, no clean shutdown) and start it again on the same DB."""
        self.coordinator.send_signal(signal.SIGKILL)
        self.coordinator.wait()
        self.coordinator = self._start_coordinator()
        self.wait_alive(sum(p is not None for p in self.nodes), timeout=90)

    @property
    def db_path(self) -> Path:
        return self.dir / "coordinator.db"

    def node_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port + 1 + i}"

    def _start_node(self, i: int) -> subprocess.Popen:
        return subprocess.Popen(
            [
                *self.base,
                "node",
                "--coordinator",
                self.url,
                "--listen",
                f"127.0.0.1:{self.port + 1 + i}",
                "--data",
                str(self.dir / f"node{i}"),
                "--capacity",
                "20GiB",
                "--heartbeat",
                str(self.heartbeat),
            ],
            stdout=self.log,
            stderr=self.log,
        )

    def status(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/status", timeout=10) as resp:
            return json.load(resp)

    def check(self) -> dict:
        """Run the checker and every due repair now."""
        req = urllib.request.Request(f"{self.url}/admin/check", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.load(resp)

    def wait_alive(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.coordinator.poll() is not None or any(
                p and p.poll() is not None for p in self.nodes
            ):
                raise RuntimeError("a swarm process exited (port taken?)")
            try:
                if sum(n["state"] == "alive" for n in self.status()["nodes"]) >= count:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"fewer than {count} nodes alive after {timeout} s")

    def wait_dead(self, indices: list[int], timeout: float = 30) -> None:
        wanted = {self.node_ids[i] for i in indices}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = {n["node_id"] for n in self.status()["nodes"] if n["state"] == "dead"}
            if wanted <= dead:
                return
            time.sleep(0.2)
        raise RuntimeError(f"nodes {indices} not declared dead")

    def kill(self, i: int) -> None:
        proc = self.nodes[i]
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.nodes[i] = None

    def restart(self, i: int) -> None:
        assert self.nodes[i] is None
        self.nodes[i] = self._start_node(i)

    def shard_path(self, file_id: str, index: int) -> Path:
        """The file holding shard ``index`` of ``file_id``, wherever it is placed now."""
        db = sqlite3.connect(self.db_path)
        try:
            (node_id,) = db.execute(
                "SELECT node_id FROM shards WHERE file_id=? AND shard_index=?", (file_id, index)
            ).fetchone()
        finally:
            db.close()
        return self.dir / f"node{self.node_ids.index(node_id)}" / "shards" / file_id / str(index)

    def node_of(self, file_id: str, index: int) -> int:
        return int(self.shard_path(file_id, index).parts[-4].removeprefix("node"))

    def stop(self, close_log: bool = True) -> None:
        for i in range(self.n):
            self.kill(i)
        self.coordinator.terminate()
        try:
            self.coordinator.wait(10)
        except subprocess.TimeoutExpired:
            self.coordinator.kill()
            self.coordinator.wait()
        if close_log:
            self.log.close()
