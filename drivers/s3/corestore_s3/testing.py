"""Test and benchmark helpers: a real moto S3 server process and fresh buckets.

Needs the ``test`` extra (``moto[server]``, ``boto3``). Used by this driver's tests and by
``bench/test_s3.py``; nothing in the driver imports it.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass

CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


__all__ = ["CREDENTIALS", "MotoServer", "driver_config", "start_moto", "stop_moto"]


@dataclass(frozen=True)
class MotoServer:
    """A running ``moto.server`` process and its endpoint."""

    endpoint: str
    process: subprocess.Popen

    def client(self):  # noqa: ANN201 - a boto3 client, for test setup only
        return self._client

    @functools.cached_property
    def _client(self):  # noqa: ANN202 - built once: a boto3 client costs ~0.1 s to create
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip

    def new_bucket(self, *, versioned: bool) -> str:
        name = f"t-{uuid.uuid4().hex[:20]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(**env: str) -> MotoServer:
    """Start ``moto.server`` on a free loopback port and wait until it answers."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return MotoServer(endpoint, process)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)


def stop_moto(server: MotoServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def driver_config(moto: MotoServer, bucket: str, **extra: object) -> dict[str, object]:
    return {"endpoint": moto.endpoint, "bucket": bucket, **CREDENTIALS, **extra}
