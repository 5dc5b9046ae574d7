"""``corestore serve``: the CS3 gRPC gateway/provider and the HTTP data path in one process.

One asyncio loop runs a ``grpc.aio`` server and an aiohttp server side by side; both share one
:class:`~corestore.state.ServerState` (mounts, users, tokens, metrics). SIGTERM and SIGINT stop
both gracefully: in-flight RPCs get a few seconds, then drivers are closed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from corestore.auth import TokenManager
from corestore.errors import ConfigError
from corestore.grpc import build_grpc_server
from corestore.http import build_http_app
from corestore.logs import configure_logging
from corestore.memory import tune_malloc
from corestore.metrics import Metrics
from corestore.mounts import MountTable
from corestore.plugins import get_registry
from corestore.serverconfig import DEFAULT_ROOT, ServerConfig, load_config
from corestore.service import StorageService
from corestore.state import ServerState
from corestore.users import UserStore, hash_password

__all__ = ["add_serve_command", "serve"]

log = logging.getLogger("corestore.server")

#: The last line of the startup banner: the server accepts requests once it is printed.
READY_LINE = "  ready    (SIGTERM or Ctrl-C stops the server)"

#: How long in-flight requests may take to finish after SIGTERM.
GRACE_SECONDS = 5.0


def _host_port(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"{what} must be HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _default_driver(config: ServerConfig) -> ServerConfig:
    """Fall back to the in-memory example when the posix driver is not installed (dev setups)."""
    registry = get_registry()
    mounts = tuple(
        replace(m, driver="memory", options={})
        if m.driver == "posix" and "posix" not in registry and "memory" in registry
        else m
        for m in config.mounts
    )
    if mounts != config.mounts:
        log.warning(
            "the posix driver is not installed; serving the in-memory example driver instead"
        )
    return replace(config, mounts=mounts)


async def serve(
    config: ServerConfig,
    *,
    on_ready: Callable[[ServerState], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT arrive)."""
    opts = config.server
    mounts = MountTable.from_config(config.mounts, get_registry())
    users = (
        UserStore.from_file(Path(opts.users_file).expanduser())
        if opts.users_file
        else UserStore.demo()
    )
    if not opts.users_file:
        log.warning("no users_file configured: serving the demo users (einstein, marie, richard)")
    tokens = TokenManager(
        opts.jwt_secret, access_ttl=opts.token_ttl, transfer_ttl=opts.transfer_ttl
    )
    if tokens.ephemeral:
        log.warning(
            "no jwt_secret configured: tokens are signed with a random key and die with the process"
        )
    http_host, http_port = _host_port(opts.http, "http")
    config.root.mkdir(parents=True, exist_ok=True)
    state = ServerState(
        service=StorageService(mounts),
        users=users,
        tokens=tokens,
        metrics=Metrics(),
        idp=opts.idp,
        data_url="",
        upload_dir=config.upload_dir,
    )
    if config.ocm.enabled:
        from corestore.ocm.wiring import enable_ocm  # noqa: PLC0415 - only when enabled

        mounts = enable_ocm(state, config)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    await mounts.open()
    runner = web.AppRunner(build_http_app(state), access_log=None, shutdown_timeout=GRACE_SECONDS)
    grpc_server = None
    try:
        await runner.setup()
        site = web.TCPSite(runner, http_host, http_port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen for HTTP on {opts.http}: {exc.strerror}") from exc
        bound_port = runner.addresses[0][1] if runner.addresses else http_port
        public = opts.public_url.rstrip("/") or f"http://{http_host}:{bound_port}"
        state.data_url = f"{public}/data"
        if state.ocm is not None:
            state.ocm.bind(public)
        grpc_server, grpc_port = build_grpc_server(state, opts.grpc)
        await grpc_server.start()
        grpc_host, _ = _host_port(opts.grpc, "grpc")
        _print_endpoints(config, f"{grpc_host}:{grpc_port}", public)
        if on_ready:
            on_ready(state)
        await stop.wait()
        log.info("shutting down")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if grpc_server is not None:
            await grpc_server.stop(GRACE_SECONDS)
        await runner.cleanup()
        if state.ocm is not None:
            await state.ocm.aclose()
        await mounts.aclose()


def _print_endpoints(config: ServerConfig, grpc_address: str, http_url: str) -> None:
    lines = [
        "corestore serving",
        f"  gRPC     {grpc_address}  "
        "(cs3.gateway.v1beta1.GatewayAPI, cs3.storage.provider.v1beta1.ProviderAPI)",
        f"  HTTP     {http_url}  "
        f"(data path {http_url}/data, {http_url}/metrics, {http_url}/healthz)",
    ]
    for m in config.mounts:
        lines.append(
            f"  mount    {m.path} -> {m.driver} (storage id {m.id}{', homes' if m.home else ''})"
        )
    lines.append(READY_LINE)
    print("\n".join(lines), flush=True)


def _run_serve(args: argparse.Namespace) -> int:
    if args.hash_password:
        password = (
            sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass()
        )
        print(hash_password(password))
        return 0
    config = load_config(
        args.config,
        root=args.root,
        overrides={"grpc": args.grpc, "http": args.http, "log_level": args.log_level},
    )
    configure_logging(config.server.log_level, config.server.log_format)
    if args.config is None:
        config = _default_driver(config)
    tune_malloc()
    asyncio.run(serve(config))
    return 0


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    """``corestore serve``: run the CS3 gRPC server and the HTTP data path."""
    parser = subparsers.add_parser(
        "serve", help="run the CS3 gRPC gateway/provider and the HTTP data path"
    )
    parser.add_argument("--config", type=Path, help="TOML config with [server] and [[mounts]]")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help=f"data directory for the default posix mount and uploads (default {DEFAULT_ROOT})",
    )
    parser.add_argument(
        "--grpc", metavar="HOST:PORT", help="gRPC listen address (default 127.0.0.1:19000)"
    )
    parser.add_argument(
        "--http", metavar="HOST:PORT", help="HTTP listen address (default 127.0.0.1:19001)"
    )
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="log level"
    )
    parser.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password (stdin or prompt), print its argon2 hash for a users file, exit",
    )
    parser.set_defaults(func=_run_serve)
