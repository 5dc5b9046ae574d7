"""Fixtures: one real ``corestore serve`` subprocess for the session, gRPC stubs, logged-in users.

The session server mounts ``/home`` on posix (homes) and ``/scratch`` on the in-memory example
driver, so routing between two drivers is exercised by every test that wants it. With
``--import-mode=importlib`` test modules cannot import this file, so helpers are fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
from cs3.gateway.v1beta1 import gateway_api_pb2_grpc as gw_grpc
from cs3.rpc.v1beta1 import code_pb2
from cs3.storage.provider.v1beta1 import provider_api_pb2_grpc as sp_grpc

from corestore.launch import ServerProcess, posix_home_mount

JWT_SECRET = "test-secret-not-for-production-0123456789"

SCRATCH_MOUNT = """
[[mounts]]
path = "/scratch"
driver = "memory"
id = "scratch"
"""


def start_server(root: Path, extra_server: str = "") -> ServerProcess:
    return ServerProcess.start(
        root,
        mounts=posix_home_mount(root / "home", fsync=False) + SCRATCH_MOUNT,
        server=f'jwt_secret = "{JWT_SECRET}"\nlog_level = "info"\n{extra_server}',
    )


def login(gateway: gw_grpc.GatewayAPIStub, user: str, password: str) -> list[tuple[str, str]]:
    res = gateway.Authenticate(
        gw.AuthenticateRequest(type="basic", client_id=user, client_secret=password)
    )
    assert res.status.code == code_pb2.CODE_OK, res.status
    return [("x-access-token", res.token)]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("serve"))
    yield srv
    code = srv.stop()
    assert code == 0, "the server did not shut down cleanly on SIGTERM:\n" + srv.output()[-5000:]


@pytest.fixture(scope="session")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.grpc_address) as ch:
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
