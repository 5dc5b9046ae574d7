"""``corestore swarm node|coordinator|up|status``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from corestore.config import parse_size

__all__ = ["add_command", "spawn_swarm"]


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def _log_setup() -> None:
    """Warnings and errors of the swarm's own processes go to stderr with a timestamp."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )


def _run_node(args: argparse.Namespace) -> int:
    from .node import run_node

    _log_setup()
    host, port = _hostport(args.listen)
    run_node(
        coordinator=args.coordinator,
        host=host,
        port=port,
        data_dir=Path(args.data),
        capacity=parse_size(args.capacity),
        heartbeat=args.heartbeat,
        zone=args.zone,
        token=args.token,
    )
    return 0


def _run_coordinator(args: argparse.Namespace) -> int:
    from .coordinator import CoordinatorConfig, run_coordinator

    _log_setup()
    host, port = _hostport(args.listen)
    config = CoordinatorConfig(
        heartbeat=args.heartbeat,
        dead_after=args.dead_after,
        repair_grace=args.repair_grace,
        checker_interval=args.checker_interval,
        audit_interval=args.audit_interval,
        audit_sample=args.audit_sample,
        redundancy=args.redundancy,
        chunk_size=parse_size(args.chunk_size),
        write_quorum=args.write_quorum,
        token=args.token,
    )
    run_coordinator(host=host, port=port, db=Path(args.db), config=config)
    return 0


def spawn_swarm(
    directory: Path,
    nodes: int,
    *,
    port: int = 7700,
    heartbeat: float = 2.0,
    dead_after: float = 30.0,
    capacity: str = "10GiB",
    extra: list[str] = (),
    quiet: bool = True,
) -> tuple[str, subprocess.Popen, list[subprocess.Popen]]:
    """Start a coordinator and ``nodes`` nodes as separate processes; wait until all registered."""
    directory.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "corestore.cli", "swarm"]
    out = subprocess.DEVNULL if quiet else None
    url = f"http://127.0.0.1:{port}"
    coordinator = subprocess.Popen(
        [
            *base,
            "coordinator",
            "--listen",
            f"127.0.0.1:{port}",
            "--db",
            str(directory / "coordinator.db"),
            "--heartbeat",
            str(heartbeat),
            "--dead-after",
            str(dead_after),
            *extra,
        ],
        stdout=out,
        stderr=out,
    )
    procs = [
        subprocess.Popen(
            [
                *base,
                "node",
                "--coordinator",
                url,
                "--listen",
                f"127.0.0.1:{port + 1 + i}",
                "--data",
                str(directory / f"node{i}"),
                "--capacity",
                capacity,
                "--heartbeat",
                str(heartbeat),
            ],
            stdout=out,
            stderr=out,
        )
        for i in range(nodes)
    ]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/status", timeout=2) as resp:
                status = json.load(resp)
            if sum(n["state"] == "alive" for n in status["nodes"]) >= nodes:
                return url, coordinator, procs
        except OSError:
            pass
        time.sleep(0.2)
    for p in [coordinator, *procs]:
        p.terminate()
    raise RuntimeError("the swarm did not come up within 30 s")


def _run_up(args: argparse.Namespace) -> int:
    # The handler goes in before anything is spawned: a SIGTERM that arrived while the swarm was
    # starting would otherwise kill this process alone and orphan the coordinator and nodes.
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    url, coordinator, nodes = spawn_swarm(
        Path(args.dir), args.nodes, port=args.port, quiet=False, capacity=args.capacity
    )
    try:
        print(
            f"swarm up: coordinator {url}, {len(nodes)} nodes on ports "
            f"{args.port + 1}-{args.port + len(nodes)}",
            flush=True,
        )
        print(f'upload:   curl -F \'options={{"redundancy":"4-6"}}\' -F file=@FILE {url}/files')
        print(f"status:   corestore swarm status --coordinator {url}", flush=True)
        while not stop and coordinator.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in [*nodes, coordinator]:
            p.terminate()
        for p in [*nodes, coordinator]:
            p.wait(10)
    return 0


def _run_status(args: argparse.Namespace) -> int:
    with urllib.request.urlopen(f"{args.coordinator.rstrip('/')}/status", timeout=10) as resp:
        status = json.load(resp)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"{'NODE':34} {'STATE':8} {'USED':>12} {'CAPACITY':>14} SHARDS  URL")
    for n in status["nodes"]:
        print(
            f"{n['node_id']:34} {n['state']:8} {n['used']:>12} {n['capacity']:>14} "
            f"{n['shards']:>6}  {n['url']}"
        )
    print(f"\n{'FILE':38} {'SIZE':>12} {'K-M':>6} {'OK':>3}  STATE")
    for f in status["files"]:
        print(
            f"{f['file_id']:38} {f['size'] or 0:>12} {f['k']}-{f['m']:<3} "
            f"{f['ok_shards']:>3}  {f['state']}"
        )
    if status["repair_jobs"]:
        print(f"\nrepair queue: {len(status['repair_jobs'])} file(s)")
    return 0


def add_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("swarm", help="run an encrypted, erasure-coded storage swarm")
    sub = parser.add_subparsers(title="swarm commands", metavar="SWARM_COMMAND", required=True)

    node = sub.add_parser("node", help="run a storage node")
    node.add_argument("--coordinator", required=True, help="coordinator URL")
    node.add_argument("--listen", required=True, metavar="HOST:PORT")
    node.add_argument("--data", required=True, metavar="DIR")
    node.add_argument("--capacity", default="10GiB", metavar="SIZE")
    node.add_argument("--heartbeat", type=float, default=2.0, metavar="SECONDS")
    node.add_argument(
        "--zone", default="", help="failure-domain label; placement spreads across zones"
    )
    node.add_argument("--token", default="", help="the coordinator's bearer token")
    node.set_defaults(func=_run_node)

    coord = sub.add_parser("coordinator", help="run the coordinator")
    coord.add_argument("--listen", required=True, metavar="HOST:PORT")
    coord.add_argument("--db", required=True, metavar="FILE")
    coord.add_argument("--heartbeat", type=float, default=2.0, metavar="SECONDS")
    coord.add_argument("--dead-after", type=float, default=30.0, metavar="SECONDS")
    coord.add_argument("--repair-grace", type=float, default=0.0, metavar="SECONDS")
    coord.add_argument("--checker-interval", type=float, default=10.0, metavar="SECONDS")
    coord.add_argument("--audit-interval", type=float, default=30.0, metavar="SECONDS")
    coord.add_argument("--audit-sample", type=int, default=4, help="shards audited per pass")
    coord.add_argument(
        "--redundancy", default="4-6", help="default k-m or preset (3-10, 10-16, 20-60)"
    )
    coord.add_argument("--chunk-size", default="4MiB", metavar="SIZE")
    coord.add_argument(
        "--write-quorum", type=int, default=0, help="shards needed for an upload (0: k+1)"
    )
    coord.add_argument("--token", default="", help="bearer token required on the control plane")
    coord.set_defaults(func=_run_coordinator)

    up = sub.add_parser("up", help="start a local demo swarm as separate processes")
    up.add_argument("--nodes", type=int, default=6)
    up.add_argument("--dir", required=True)
    up.add_argument(
        "--port", type=int, default=7700, help="coordinator port; nodes use the next ones"
    )
    up.add_argument("--capacity", default="10GiB", metavar="SIZE")
    up.set_defaults(func=_run_up)

    status = sub.add_parser("status", help="show nodes, capacity, files and their health")
    status.add_argument("--coordinator", default="http://127.0.0.1:7700")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_run_status)
