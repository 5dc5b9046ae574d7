"""Two corestore sites as separate ``corestore serve`` processes, with OCM on, for every OCM test.

The process harness is the server tests' (:mod:`corestore.launch`). Site A (the sharer,
provider ``site-a``) and site B (the receiver, ``site-b``) require signed requests and invites;
A allows only B (and the test's own in-process peer), so allowlist rejections are testable.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cs3.gateway.v1beta1 import gateway_api_pb2_grpc as gw_grpc
from cs3.sharing.ocm.v1beta1 import ocm_api_pb2_grpc as ocm_grpc
from cs3.ocm.invite.v1beta1 import invite_api_pb2_grpc as inv_grpc

from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
from cs3.rpc.v1beta1 import code_pb2

from corestore.launch import ServerProcess, free_port, posix_home_mount

USERS = {"einstein": "relativity", "marie": "radioactivity", "richard": "superfluidity"}


@dataclass
class Site:
    server: Any
    name: str
    channel: grpc.Channel

    @property
    def http(self) -> str:
        return self.server.http_url

    @property
    def domain(self) -> str:
        return self.server.http_url.removeprefix("http://")

    @property
    def gateway(self) -> gw_grpc.GatewayAPIStub:
        return gw_grpc.GatewayAPIStub(self.channel)

    @property
    def invites(self) -> inv_grpc.InviteAPIStub:
        return inv_grpc.InviteAPIStub(self.channel)

    @property
    def ocm(self) -> ocm_grpc.OcmAPIStub:
        return ocm_grpc.OcmAPIStub(self.channel)

    def login(self, user: str) -> list[tuple[str, str]]:
        res = self.gateway.Authenticate(gw.AuthenticateRequest(type="basic", client_id=user,
                                                               client_secret=USERS[user]))
        assert res.status.code == code_pb2.CODE_OK, res.status
        return [("x-access-token", res.token)]

    def discovery(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.http}/.well-known/ocm", timeout=10) as response:
            return json.load(response)


def ocm_table(name: str, allowlist: list[str] | None = None, **extra: Any) -> str:
    lines = ["", "[ocm]", "enabled = true", f'provider = "{name}"', "allow_http = true",
             "signatures_required = true", "must_invite = true", "timeout = 10.0"]
    if allowlist is not None:
        lines.append(f"allowlist = {json.dumps(allowlist)}")
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def start_site(root: Path, name: str, allowlist: list[str] | None = None, **extra: Any) -> Site:
    server = ServerProcess.start(
        root, mounts=posix_home_mount(root / "home", fsync=False),
        server='jwt_secret = "ocm-test-secret-0123456789abcdef"\nlog_level = "info"\n'
        + ocm_table(name, allowlist, **extra),
    )
    return Site(server, name, grpc.insecure_channel(server.grpc_address))


def stop_site(site: Site) -> None:
    site.channel.close()
    code = site.server.stop()
    assert code == 0, f"{site.name} did not shut down cleanly:\n" + site.server.output()[-5000:]


@pytest.fixture(scope="session")
def peer_port() -> int:
    """The port of the in-process 'older peer' some tests run (A allowlists it, on 'localhost')."""
    return free_port()


@pytest.fixture(scope="session")
def site_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = start_site(tmp_path_factory.mktemp("site-b"), "site-b")
    yield site
    stop_site(site)


@pytest.fixture(scope="session")
def site_a(tmp_path_factory: pytest.TempPathFactory, site_b: Site, peer_port: int) -> Iterator[Site]:
    site = start_site(tmp_path_factory.mktemp("site-a"), "site-a",
                      allowlist=[site_b.domain, f"127.0.0.1:{peer_port}"])
    yield site
    stop_site(site)


@pytest.fixture
def launch_site() -> Iterator[Any]:
    """Start an extra site for one test (``launch_site(root, name, **ocm_options)``); stopped after it."""
    started: list[Site] = []

    def launch(root: Path, name: str, allowlist: list[str] | None = None, **extra: Any) -> Site:
        site = start_site(root, name, allowlist, **extra)
        started.append(site)
        return site

    yield launch
    for site in started:
        stop_site(site)
