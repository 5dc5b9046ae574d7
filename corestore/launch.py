"""Run ``corestore serve`` as a real subprocess on free loopback ports (tests, benches, demos).

::

    with ServerProcess.start(tmp_path, mounts=POSIX_HOME) as server:
        channel = grpc.insecure_channel(server.grpc_address)
        ...

The process's output is kept (``server.output()``) and copied to ``<root>/server.log``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from corestore.server import READY_LINE

__all__ = ["ServerProcess", "cs3client_for", "free_port", "posix_home_mount"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def posix_home_mount(root: Path, *, fsync: bool = True, checksum: str | None = None) -> str:
    """The ``[[mounts]]`` TOML of a posix ``/home`` mount with user homes under ``root``.

    :param checksum: the driver's ``checksum`` option (``None``: the driver's default).
    """
    extra = f'checksum = "{checksum}"\n' if checksum else ""
    return f"""
[[mounts]]
path = "/home"
driver = "posix"
id = "home"
home = true
[mounts.options]
root = "{root}"
fsync = {str(fsync).lower()}
{extra}"""


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    grpc_address: str
    http_url: str
    root: Path
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start(
        cls, root: Path, *, mounts: str, server: str = "", timeout: float = 30
    ) -> ServerProcess:
        """Write ``<root>/corestore.toml`` (``[server]`` extras, ``mounts``); start; await ready."""
        root.mkdir(parents=True, exist_ok=True)
        grpc_port, http_port = free_port(), free_port()
        config = root / "corestore.toml"
        config.write_text(
            f'[server]\ngrpc = "127.0.0.1:{grpc_port}"\nhttp = "127.0.0.1:{http_port}"\n'
            f'upload_dir = "{root / "uploads"}"\n{server}\n{mounts}'
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "corestore.cli",
                "serve",
                "--config",
                str(config),
                "--root",
                str(root),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        srv = cls(proc, f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}", root)
        ready = threading.Event()

        def pump() -> None:
            assert proc.stdout is not None
            with open(root / "server.log", "a") as logfile:
                for line in proc.stdout:
                    srv.log.append(line)
                    logfile.write(line)
                    logfile.flush()
                    if line.rstrip("\n") == READY_LINE:
                        ready.set()

        threading.Thread(target=pump, name="corestore-serve-output", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                srv.stop()
                raise RuntimeError("corestore serve did not start:\n" + srv.output())
        return srv

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, wait for a graceful exit (kill after ``timeout``); return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def output(self) -> str:
        return "".join(self.log)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def cs3client_for(
    server: ServerProcess, user: str = "einstein", password: str = "relativity"
) -> tuple[Any, Any]:
    """An unmodified ``cs3client`` (PyPI) logged in to ``server``: ``(CS3Client, Auth)``.

    Every end-to-end test drives the server the way a real user's cs3client would, so the
    client is configured in this one place. cs3client is imported here, not at module level:
    it is a test dependency, not one of corestore's.
    """
    import configparser
    import logging

    from cs3client.auth import Auth
    from cs3client.cs3client import CS3Client

    config = configparser.ConfigParser()
    config["cs3client"] = {
        "host": server.grpc_address,
        "auth_login_type": "basic",
        "auth_client_id": user,
        "auth_client_secret": password,
        "ssl_enabled": "false",
        "grpc_timeout": "10",
        "http_timeout": "30",
        "tus_enabled": "false",
        "lock_expiration": "1800",
    }
    client = CS3Client(config, "cs3client", logging.getLogger("cs3client"))
    return client, Auth(client)
