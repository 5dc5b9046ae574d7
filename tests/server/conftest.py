"""A real ``corestore serve`` subprocess on free loopback ports, and fixtures for talking to it.

With ``--import-mode=importlib`` test modules cannot import this file, so helpers are fixtures.

The session-wide server mounts ``/home`` on posix (homes) and ``/scratch`` on the in-memory
example driver, so routing between two drivers is exercised by every test that wants it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
from cs3.gateway.v1beta1 import gateway_api_pb2_grpc as gw_grpc
from cs3.rpc.v1beta1 import code_pb2
from cs3.storage.provider.v1beta1 import provider_api_pb2_grpc as sp_grpc

JWT_SECRET = "test-secret-not-for-production-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    grpc_address: str
    http_url: str
    root: Path
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.grpc_address)

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def output(self) -> str:
        return "".join(self.log)


def write_config(root: Path, grpc_port: int, http_port: int, extra_server: str = "") -> Path:
    config = root / "corestore.toml"
    config.write_text(f"""
[server]
grpc = "127.0.0.1:{grpc_port}"
http = "127.0.0.1:{http_port}"
jwt_secret = "{JWT_SECRET}"
upload_dir = "{root / 'uploads'}"
log_level = "info"
{extra_server}

[[mounts]]
path = "/home"
driver = "posix"
id = "home"
home = true
[mounts.options]
root = "{root / 'home'}"
fsync = false

[[mounts]]
path = "/scratch"
driver = "memory"
id = "scratch"
""")
    return config


def start_server(root: Path, extra_server: str = "") -> Server:
    root.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port = free_port(), free_port()
    config = write_config(root, grpc_port, http_port, extra_server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "corestore.cli", "serve", "--config", str(config), "--root", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    server = Server(proc, f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}", root)
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        with open(root / "server.log", "a") as logfile:
            for line in proc.stdout:
                server.log.append(line)
                logfile.write(line)
                logfile.flush()
                if line.startswith("corestore serving"):
                    ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 30
    while not ready.is_set():
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("corestore serve did not start:\n" + server.output())
        ready.wait(0.1)
    return server




def login(gateway: gw_grpc.GatewayAPIStub, user: str, password: str) -> list[tuple[str, str]]:
    res = gateway.Authenticate(gw.AuthenticateRequest(type="basic", client_id=user, client_secret=password))
    assert res.status.code == code_pb2.CODE_OK, res.status
    return [("x-access-token", res.token)]


def code_name(status) -> str:  # noqa: ANN001
    return code_pb2.Code.Name(status.code)


@pytest.fixture(scope="session")
def launch() -> Callable[..., Server]:
    """Start another server (a fresh process) with ``launch(root, extra_server_toml)``."""
    return start_server


@pytest.fixture(scope="session")
def authenticate() -> Callable[..., list[tuple[str, str]]]:
    return login


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("serve"))
    yield srv
    code = srv.stop()
    assert code == 0, "the server did not shut down cleanly on SIGTERM:\n" + srv.output()[-5000:]


@pytest.fixture(scope="session")
def channel(server: Server) -> Iterator[grpc.Channel]:
    with server.channel() as ch:
        yield ch


@pytest.fixture(scope="session")
def gateway(channel: grpc.Channel) -> gw_grpc.GatewayAPIStub:
    return gw_grpc.GatewayAPIStub(channel)


@pytest.fixture(scope="session")
def provider(channel: grpc.Channel) -> sp_grpc.ProviderAPIStub:
    return sp_grpc.ProviderAPIStub(channel)



@pytest.fixture(scope="session")
def einstein(gateway: gw_grpc.GatewayAPIStub) -> list[tuple[str, str]]:
    return login(gateway, "einstein", "relativity")


@pytest.fixture(scope="session")
def marie(gateway: gw_grpc.GatewayAPIStub) -> list[tuple[str, str]]:
    return login(gateway, "marie", "radioactivity")
