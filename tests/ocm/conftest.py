"""Two corestore sites as separate ``corestore serve`` processes, with OCM on, for every OCM test.

The process harness is the server tests' (:mod:`corestore.launch`). Site A (the sharer,
provider ``site-a``) and site B (the receiver, ``site-b``) require signed requests and invites;
A allows only B (and the test's own in-process peer), so allowlist rejections are testable.
"""

from __future__ import annotations

import json
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
from cs3.gateway.v1beta1 import gateway_api_pb2_grpc as gw_grpc
from cs3.ocm.invite.v1beta1 import invite_api_pb2_grpc as inv_grpc
from cs3.rpc.v1beta1 import code_pb2
from cs3.sharing.ocm.v1beta1 import ocm_api_pb2_grpc as ocm_grpc

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
        res = self.gateway.Authenticate(
            gw.AuthenticateRequest(type="basic", client_id=user, client_secret=USERS[user])
        )
        assert res.status.code == code_pb2.CODE_OK, res.status
        return [("x-access-token", res.token)]

    def discovery(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.http}/.well-known/ocm", timeout=10) as response:
            return json.load(response)


def ocm_table(name: str, allowlist: list[str] | None = None, **extra: Any) -> str:
    lines = [
        "",
        "[ocm]",
        "enabled = true",
        f'provider = "{name}"',
        "allow_http = true",
        "signatures_required = true",
        "must_invite = true",
        "timeout = 10.0",
    ]
    if allowlist is not None:
        lines.append(f"allowlist = {json.dumps(allowlist)}")
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def start_site(root: Path, name: str, allowlist: list[str] | None = None, **extra: Any) -> Site:
    server = ServerProcess.start(
        root,
        mounts=posix_home_mount(root / "home", fsync=False),
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
def site_a(
    tmp_path_factory: pytest.TempPathFactory, site_b: Site, peer_port: int
) -> Iterator[Site]:
    site = start_site(
        tmp_path_factory.mktemp("site-a"),
        "site-a",
        allowlist=[site_b.domain, f"127.0.0.1:{peer_port}"],
    )
    yield site
    stop_site(site)


@pytest.fixture
def launch_site() -> Iterator[Any]:
    """Start extra sites for one test: ``launch_site(root, name, **ocm_options)``."""
    started: list[Site] = []

    def launch(root: Path, name: str, allowlist: list[str] | None = None, **extra: Any) -> Site:
        site = start_site(root, name, allowlist, **extra)
        started.append(site)
        return site

    yield launch
    for site in started:
        stop_site(site)


class OcmPeer:
    """A minimal OCM peer in this process (another site's keys and discovery), on ``peer_port``.

    It is a real HTTP server the sites call back for discovery and keys; tests use it to send
    requests signed (or forged) exactly as they choose, including draft-cavage signatures of
    older peers. Site A allowlists it; site B has no allowlist.
    """

    def __init__(self, port: int) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        from corestore.ocm.signatures import SigningKey

        self.port = port
        self.domain = f"127.0.0.1:{port}"
        self.key = SigningKey.load_or_create(Path(tempfile.mkdtemp()) / "peer.pem")
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_pem = (
            self.rsa.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self.cavage_key_id = f"http://{self.domain}/ocm#signature"
        self._loop: Any = None
        self._thread: threading.Thread | None = None
        #: What sites POSTed to this peer: (path, headers, body), in order.
        self.received: list[tuple[str, dict[str, str], bytes]] = []

    def discovery(self) -> dict[str, Any]:
        base = f"http://{self.domain}"
        return {
            "enabled": True,
            "apiVersion": "1.2.0",
            "endPoint": f"{base}/ocm",
            "provider": "test-peer",
            "resourceTypes": [
                {
                    "name": "folder",
                    "shareTypes": ["user"],
                    "protocols": {"webdav": "/dav/", "webdav-receive": {"uri": "absolute"}},
                }
            ],
            "publicKey": {"keyId": self.cavage_key_id, "publicKeyPem": self.rsa_pem},
        }

    def start(self) -> None:
        import asyncio

        from aiohttp import web

        async def discovery(request: web.Request) -> web.Response:
            return web.json_response(self.discovery())

        async def jwks(request: web.Request) -> web.Response:
            return web.json_response({"keys": [self.key.jwk()]})

        async def record(request: web.Request) -> web.Response:
            self.received.append((request.path, dict(request.headers), await request.read()))
            if request.path.endswith("/shares"):
                return web.json_response({"recipientDisplayName": "Alice Peer"}, status=201)
            return web.json_response({}, status=201)

        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.add_routes(
                [
                    web.get("/.well-known/ocm", discovery),
                    web.get("/.well-known/jwks.json", jwks),
                    web.post("/ocm/shares", record),
                    web.post("/ocm/notifications", record),
                ]
            )
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="ocm-test-peer", daemon=True)
        self._thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def post(
        self,
        url: str,
        payload: Any,
        *,
        sign: str = "rfc9421",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """POST JSON signed as ``sign`` (rfc9421, cavage or none): status, JSON, headers."""
        data = body if body is not None else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json"}
        if sign == "rfc9421":
            sent.update(self.key.sign("POST", url, data))
        elif sign == "cavage":
            sent.update(self.cavage_headers(url, data))
        sent.update(headers or {})
        return send(url, data, sent) + (sent,)

    @staticmethod
    def raw(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        return send(url, data, headers)

    def cavage_headers(self, url: str, data: bytes) -> dict[str, str]:
        import base64
        import hashlib
        from email.utils import formatdate
        from urllib.parse import urlsplit

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        parts = urlsplit(url)
        headers = {
            "Date": formatdate(usegmt=True),
            "Host": parts.netloc,
            "Digest": "SHA-256=" + base64.b64encode(hashlib.sha256(data).digest()).decode(),
            "Content-Length": str(len(data)),
        }
        names = ["(request-target)", "content-length", "date", "digest", "host"]
        lines = [f"(request-target): post {parts.path}"] + [
            f"{n}: {headers[n.title()]}" for n in names[1:]
        ]
        signature = base64.b64encode(
            self.rsa.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
        )
        headers["Signature"] = (
            f'keyId="{self.cavage_key_id}",algorithm="rsa-sha256",'
            f'headers="{" ".join(names)}",signature="{signature.decode()}"'
        )
        return headers


def send(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


@pytest.fixture(scope="session")
def peer(peer_port: int) -> Iterator[OcmPeer]:
    test_peer = OcmPeer(peer_port)
    test_peer.start()
    yield test_peer
    test_peer.stop()
