"""Operations: startup banner, /healthz, /metrics, structured logs with request ids, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import requests
from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
from cs3.gateway.v1beta1 import gateway_api_pb2_grpc as gw_grpc
from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
from cs3.storage.provider.v1beta1 import resources_pb2 as spr

from corestore.launch import free_port


def test_banner_and_health(server: Any) -> None:
    out = server.output()
    assert f"gRPC     {server.grpc_address}" in out
    assert f"HTTP     {server.http_url}" in out
    assert "mount    /home -> posix" in out and "mount    /scratch -> memory" in out
    res = requests.get(f"{server.http_url}/healthz", timeout=10)
    assert res.status_code == 200 and res.json() == {"status": "ok"}


def test_metrics_count_rpcs_errors_bytes_per_driver(
    server: Any, gateway: Any, einstein: list
) -> None:
    gateway.Stat(sp.StatRequest(ref=spr.Reference(path="/home/einstein")), metadata=einstein)
    gateway.Stat(
        sp.StatRequest(ref=spr.Reference(path="/home/einstein/missing")), metadata=einstein
    )
    gateway.Stat(sp.StatRequest(ref=spr.Reference(path="/scratch")), metadata=einstein)
    res = gateway.InitiateFileUpload(
        sp.InitiateFileUploadRequest(ref=spr.Reference(path="/home/einstein/m.txt")),
        metadata=einstein,
    )
    requests.put(res.protocols[0].upload_endpoint, data=b"12345", timeout=10)
    text = requests.get(f"{server.http_url}/metrics", timeout=10).text
    assert re.search(
        r'corestore_requests_total\{code="CODE_OK",driver="posix",rpc="Stat"\} \d', text
    )
    assert re.search(
        r'corestore_requests_total\{code="CODE_OK",driver="memory",rpc="Stat"\} \d', text
    )
    assert re.search(
        r'corestore_errors_total\{code="CODE_NOT_FOUND",driver="posix",rpc="Stat"\} \d', text
    )
    assert re.search(
        r'corestore_request_seconds_bucket\{driver="posix",le="[\d.]+",rpc="Stat"\} \d', text
    )
    assert re.search(
        r'corestore_requests_total\{code="200",driver="posix",rpc="http_upload"\} \d', text
    )
    match = re.search(
        r'corestore_data_bytes_total\{direction="in",driver="posix"\} ([\d.e+]+)', text
    )
    assert match and float(match.group(1)) >= 5


def test_logs_are_structured_with_request_ids(server: Any, gateway: Any, einstein: list) -> None:
    res = gateway.Stat(
        sp.StatRequest(ref=spr.Reference(path="/home/einstein/no-such-file")), metadata=einstein
    )
    trace = res.status.trace
    assert re.fullmatch(r"[0-9a-f]{16}", trace)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in server.output().splitlines() if f"request_id={trace}" in line]
        if lines:
            break
        time.sleep(0.05)
    assert lines and all(line.startswith("ts=") and " level=" in line for line in lines)
    http = requests.get(f"{server.http_url}/data/simple/bogus", timeout=10)
    assert re.fullmatch(r"[0-9a-f]{16}", http.headers["X-Request-Id"])


def test_sigterm_stops_gracefully_and_default_config(tmp_path: Path) -> None:
    """``corestore serve --root`` alone: posix /home under the root; SIGTERM exits 0."""
    grpc_port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "corestore.cli",
            "serve",
            "--root",
            str(tmp_path / "data"),
            "--grpc",
            f"127.0.0.1:{grpc_port}",
            "--http",
            f"127.0.0.1:{http_port}",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        seen = []
        while not seen or not seen[-1].startswith("  ready"):
            line = proc.stdout.readline()
            assert line, "".join(seen)
            seen.append(line)
        assert any(line.startswith("corestore serving") for line in seen)
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = gw_grpc.GatewayAPIStub(channel)
            auth = stub.Authenticate(
                gw.AuthenticateRequest(
                    type="basic", client_id="richard", client_secret="superfluidity"
                )
            )
            assert auth.status.code == 1
            home = stub.GetHome(sp.GetHomeRequest(), metadata=[("x-access-token", auth.token)])
            assert home.path == "/home/richard"
        assert (tmp_path / "data" / "home").is_dir()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_users_file_replaces_the_demo_users(tmp_path: Path) -> None:
    from corestore.launch import ServerProcess, posix_home_mount
    from corestore.users import hash_password

    users = tmp_path / "users.toml"
    users.write_text(
        f'[[users]]\nusername = "ada"\npassword = "{hash_password("engine")}"\n'
        'display_name = "Ada Lovelace"\nmail = "ada@example.org"\n'
    )
    server = ServerProcess.start(
        tmp_path / "srv",
        mounts=posix_home_mount(tmp_path / "srv" / "home", fsync=False),
        server=f'users_file = "{users}"\nidp = "example.org"',
    )
    try:
        with grpc.insecure_channel(server.grpc_address) as channel:
            stub = gw_grpc.GatewayAPIStub(channel)
            ok = stub.Authenticate(
                gw.AuthenticateRequest(type="basic", client_id="ada", client_secret="engine")
            )
            assert ok.status.code == 1
            assert ok.user.display_name == "Ada Lovelace" and ok.user.id.idp == "example.org"
            demo = stub.Authenticate(
                gw.AuthenticateRequest(
                    type="basic", client_id="einstein", client_secret="relativity"
                )
            )
            assert demo.status.code == 9  # CODE_UNAUTHENTICATED
            who = stub.WhoAmI(gw.WhoAmIRequest(token=ok.token))
            assert who.user.username == "ada"
    finally:
        assert server.stop() == 0
