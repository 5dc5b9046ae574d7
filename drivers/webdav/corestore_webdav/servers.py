"""Start real WebDAV servers as subprocesses, for the tests and benchmarks of this driver.

Two servers with different habits keep the driver honest: ``wsgidav`` (Python, PyPI; stores dead
properties when its property manager is on) and ``rclone serve webdav`` (Go, Debian's ``rclone``;
no dead properties). Both listen on 127.0.0.1 only, on a free port, serving a local folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["WebdavServer", "free_port", "start_rclone", "start_wsgidav"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebdavServer:
    """A running server: its URL, the folder it serves, credentials (if any) and the process."""

    kind: str
    url: str
    root: Path
    process: subprocess.Popen[bytes]
    username: str = ""
    password: str = ""
    log: Path = field(default_factory=Path)

    def driver_config(self, **extra: object) -> dict[str, object]:
        config: dict[str, object] = {"url": self.url}
        if self.username:
            config.update(username=self.username, password=self.password)
        config.update(extra)
        return config

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> WebdavServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _wait_ready(server: WebdavServer, timeout: float = 30.0) -> WebdavServer:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited early; log: {server.log.read_text()[-2000:]}")
        try:
            request = urllib.request.Request(server.url, method="OPTIONS")
            urllib.request.urlopen(request, timeout=2).close()
            return server
        except urllib.error.HTTPError:
            return server  # it answers (401 without credentials is fine)
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.kind} did not start within {timeout}s")


def start_wsgidav(
    root: Path,
    workdir: Path,
    *,
    username: str = "",
    password: str = "",
    dead_properties: bool = True,
) -> WebdavServer:
    """Serve ``root`` with wsgidav (cheroot), optionally with basic auth and dead properties."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    users: object = {"*": {username: {"password": password}}} if username else {"*": True}
    config = {
        "host": "127.0.0.1",
        "port": port,
        "provider_mapping": {"/": str(root)},
        "simple_dc": {"user_mapping": users},
        "http_authenticator": {
            "domain_controller": None,
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
        },
        "property_manager": dead_properties or None,
        "lock_storage": True,
        "verbose": 1,
        "dir_browser": {"enable": False},
    }
    config_file = workdir / "wsgidav.json"
    config_file.write_text(json.dumps(config))
    log = workdir / "wsgidav.log"
    exe = shutil.which("wsgidav", path=str(Path(sys.executable).parent)) or "wsgidav"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [exe, "--config", str(config_file)], stdout=out, stderr=subprocess.STDOUT, cwd=workdir
        )
    server = WebdavServer(
        "wsgidav", f"http://127.0.0.1:{port}/", root, process, username, password, log
    )
    return _wait_ready(server)


def start_rclone(
    root: Path, workdir: Path, *, username: str = "", password: str = ""
) -> WebdavServer:
    """Serve ``root`` with ``rclone serve webdav`` (needs the ``rclone`` binary on PATH)."""
    exe = shutil.which("rclone")
    if exe is None:
        raise FileNotFoundError("rclone is not installed (apt-get install -y rclone)")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "rclone.log"
    args = [exe, "serve", "webdav", str(root), "--addr", f"127.0.0.1:{port}"]
    if username:
        args += ["--user", username, "--pass", password]
    env = {**os.environ, "RCLONE_CONFIG": str(workdir / "rclone.conf")}
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    server = WebdavServer(
        "rclone", f"http://127.0.0.1:{port}/", root, process, username, password, log
    )
    return _wait_ready(server)
