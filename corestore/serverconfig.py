"""The server's own configuration: listeners, secrets, users and the mount table.

One TOML file configures ``corestore serve``::

    [server]
    grpc = "127.0.0.1:19000"
    http = "127.0.0.1:19001"

    [[mounts]]
    path = "/home"
    driver = "posix"
    home = true
    [mounts.options]
    root = "/srv/corestore/home"

Every table is parsed strictly by :func:`corestore.config.parse_options` (unknown keys are
errors), and ``[server]`` keys can be overridden from the environment as
``CORESTORE_SERVER_<KEY>``, which is where ``jwt_secret`` belongs in production.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from corestore.config import option, parse_options
from corestore.errors import ConfigError
from corestore.ocm.config import OcmOptions
from corestore.paths import join_path, split_path

__all__ = ["MountConfig", "ServerConfig", "ServerOptions", "default_config", "load_config"]

DEFAULT_GRPC = "127.0.0.1:19000"
DEFAULT_HTTP = "127.0.0.1:19001"
DEFAULT_ROOT = Path("./corestore-data")


@dataclass(frozen=True)
class ServerOptions:
    grpc: str = option(DEFAULT_GRPC, doc="HOST:PORT of the CS3 gRPC listener (gateway + provider)")
    http: str = option(DEFAULT_HTTP, doc="HOST:PORT of the HTTP data path, /metrics and /healthz")
    public_url: str = option(
        "", doc="base URL clients reach the HTTP listener at (default http://<http>)"
    )
    jwt_secret: str = option(
        "",
        doc="HS256 secret for access and transfer tokens (default: random per process)",
        secret=True,
    )
    token_ttl: int = option(86400, doc="lifetime of access tokens, seconds")
    transfer_ttl: int = option(3600, doc="lifetime of data-path transfer tokens, seconds")
    users_file: str = option("", doc="TOML users file with argon2 hashes (default: demo users)")
    upload_dir: str = option("", doc="local staging area for tus uploads (default <root>/.uploads)")
    idp: str = option("corestore", doc="identity provider name put in user ids")
    log_level: str = option("info", doc="debug, info, warning or error")
    log_format: str = option("text", doc="'text' (key=value) or 'json'")


@dataclass(frozen=True)
class MountConfig:
    path: str = option(doc="where the mount appears in the global namespace, e.g. /home")
    driver: str = option(doc="the driver's registered name (see `corestore drivers`)")
    id: str = option("", doc="storage id on the wire (default: derived from the path)")
    home: bool = option(False, doc="user homes live here as <path>/<username>")
    options: dict = option({}, doc="the driver's own options table")


@dataclass(frozen=True)
class ServerConfig:
    server: ServerOptions
    mounts: tuple[MountConfig, ...]
    root: Path = DEFAULT_ROOT
    ocm: OcmOptions = field(default_factory=OcmOptions)

    @property
    def upload_dir(self) -> Path:
        return (
            Path(self.server.upload_dir).expanduser()
            if self.server.upload_dir
            else self.root / ".uploads"
        )


def _normalise_mount(mount: MountConfig) -> MountConfig:
    path = join_path(split_path(mount.path))
    storage_id = mount.id or (re.sub(r"[^A-Za-z0-9_-]+", "-", path.strip("/")) or "root")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", storage_id):
        raise ConfigError(f"mount {path}: id {storage_id!r} may only use letters, digits, '.-_'")
    return replace(mount, path=path, id=storage_id)


def _build(raw: Mapping[str, Any], root: Path) -> ServerConfig:
    unknown = sorted(set(raw) - {"server", "mounts", "ocm"})
    if unknown:
        raise ConfigError(f"unknown config table {unknown[0]!r}; known tables: server, mounts, ocm")
    server = parse_options(ServerOptions, raw.get("server"), section="server")
    mounts_raw = raw.get("mounts")
    if not mounts_raw:
        raise ConfigError("the config lists no [[mounts]]")
    if not isinstance(mounts_raw, list):
        raise ConfigError("mounts: expected an array of tables ([[mounts]])")
    mounts = tuple(
        _normalise_mount(parse_options(MountConfig, m, section=f"mounts[{i}]", environ={}))
        for i, m in enumerate(mounts_raw)
    )
    seen_paths, seen_ids = set(), set()
    for m in mounts:
        if m.path in seen_paths or m.id in seen_ids:
            raise ConfigError(f"mount {m.path}: path or id {m.id!r} is used twice")
        seen_paths.add(m.path)
        seen_ids.add(m.id)
    if sum(m.home for m in mounts) > 1:
        raise ConfigError("only one mount may set home = true")
    ocm = parse_options(OcmOptions, raw.get("ocm"), section="ocm")
    return ServerConfig(server=server, mounts=mounts, root=root, ocm=ocm)


def default_config(root: Path = DEFAULT_ROOT, driver: str = "posix") -> dict[str, Any]:
    """The raw config used without ``--config``: one posix home mount under ``root``."""
    options: dict[str, Any] = {"root": str(root / "home")} if driver == "posix" else {}
    return {
        "mounts": [
            {"path": "/home", "driver": driver, "id": "home", "home": True, "options": options}
        ]
    }


def load_config(
    path: Path | None = None,
    *,
    root: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Read the TOML file (or the defaults), apply command-line ``overrides`` to ``[server]``."""
    root = (root or DEFAULT_ROOT).expanduser()
    if path is None:
        raw: dict[str, Any] = default_config(root)
    else:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    if overrides:
        raw = dict(raw)
        raw["server"] = {
            **raw.get("server", {}),
            **{k: v for k, v in overrides.items() if v is not None},
        }
    return _build(raw, root)
