"""Server config, mount routing, tokens and users, without a running server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import jwt
import pytest

from corestore.auth import TokenManager
from corestore.errors import (
    ConfigError,
    InvalidPath,
    NotFound,
    PathEscape,
    PermissionDenied,
    Unauthenticated,
)
from corestore.mounts import MountTable
from corestore.plugins import get_registry
from corestore.serverconfig import load_config
from corestore.users import UserStore, hash_password

EXAMPLE = """
[server]
grpc = "127.0.0.1:0"
http = "127.0.0.1:0"
jwt_secret = "0123456789abcdef0123456789abcdef"

[[mounts]]
path = "/home"
driver = "memory"
home = true

[[mounts]]
path = "/projects/physics/"
driver = "memory"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "corestore.toml"
    path.write_text(text)
    return path


def test_load_example_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE), root=tmp_path)
    assert [(m.path, m.id, m.home) for m in config.mounts] == [
        ("/home", "home", True),
        ("/projects/physics", "projects-physics", False),
    ]
    assert config.upload_dir == tmp_path / ".uploads"
    overridden = load_config(
        write(tmp_path, EXAMPLE), root=tmp_path, overrides={"grpc": "127.0.0.1:5"}
    )
    assert overridden.server.grpc == "127.0.0.1:5"


def test_default_config_is_posix_home_under_root(tmp_path: Path) -> None:
    config = load_config(None, root=tmp_path)
    (mount,) = config.mounts
    assert (mount.path, mount.driver, mount.home, mount.options) == (
        "/home",
        "posix",
        True,
        {"root": str(tmp_path / "home")},
    )
    assert config.server.grpc == "127.0.0.1:19000" and config.server.http == "127.0.0.1:19001"


def test_env_overrides_server_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORESTORE_SERVER_JWT_SECRET", "from-the-environment")
    assert (
        load_config(write(tmp_path, EXAMPLE), root=tmp_path).server.jwt_secret
        == "from-the-environment"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (EXAMPLE + "\n[extra]\n", "unknown config table 'extra'"),
        (EXAMPLE.replace("jwt_secret", "jwt_secert"), "unknown option 'jwt_secert'"),
        ('[server]\ngrpc = "x"\n', "no [[mounts]]"),
        (EXAMPLE + '\n[[mounts]]\npath = "/home"\ndriver = "memory"\n', "used twice"),
        (
            EXAMPLE + '\n[[mounts]]\npath = "/other"\ndriver = "memory"\nhome = true\n',
            "only one mount",
        ),
        (EXAMPLE + '\n[[mounts]]\npath = "/x/../y"\ndriver = "memory"\n', "escapes"),
        (EXAMPLE + '\n[[mounts]]\npath = "/z"\ndriver = "memory"\nid = "a b"\n', "may only use"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_config_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises((ConfigError, PathEscape)) as err:
        load_config(write(tmp_path, text), root=tmp_path)
    assert message in str(err.value)


def test_unknown_driver_lists_installed(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, EXAMPLE.replace('driver = "memory"\nhome', 'driver = "nope"\nhome')),
        root=tmp_path,
    )
    with pytest.raises(
        ConfigError, match="no storage driver named 'nope'; installed drivers: .*memory"
    ):
        MountTable.from_config(config.mounts, get_registry())


def test_routing_by_prefix_and_storage_id(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE), root=tmp_path)
    table = MountTable.from_config(config.mounts, get_registry())
    routed = table.route("/projects/physics/a/b", "", "")
    assert (
        routed is not None and routed.mount.id == "projects-physics" and routed.ref.path == "/a/b"
    )
    routed = table.route("/home", "", "")
    assert routed is not None and routed.mount.id == "home" and routed.ref.path == "/"
    assert table.route("/projects", "", "") is None  # a virtual folder above a mount
    assert table.virtual_children("/") == ["home", "projects"]
    assert table.virtual_children("/projects") == ["physics"]
    by_id = table.route("./x", "home", "abc")
    assert by_id is not None and by_id.ref.resource_id == "abc" and by_id.ref.path == "./x"
    with pytest.raises(NotFound):
        table.route(".", "unknown", "abc")
    with pytest.raises(NotFound):
        table.route("/nowhere", "", "")
    with pytest.raises(InvalidPath):
        table.route("relative", "", "")
    with pytest.raises(PathEscape):
        table.route("/home/../etc", "", "")


def test_tokens_are_typed_and_expire() -> None:
    tokens = TokenManager("0123456789abcdef0123456789abcdef", access_ttl=60, transfer_ttl=60)
    access = tokens.mint_access("einstein")
    assert tokens.verify_access(access) == "einstein"
    assert (
        jwt.decode(access, options={"verify_signature": False})["exp"] > time.time()
    )  # what cs3client reads
    transfer = tokens.mint_transfer("einstein", "download", {"sid": "home", "path": "/x"})
    assert tokens.verify_transfer(transfer, "download").target == {"sid": "home", "path": "/x"}
    with pytest.raises(Unauthenticated):
        tokens.verify_access(transfer)
    with pytest.raises(Unauthenticated):
        tokens.verify_transfer(access, "download")
    with pytest.raises(PermissionDenied):
        tokens.verify_transfer(transfer, "upload")
    other = TokenManager("another-secret-another-secret-0000")
    with pytest.raises(Unauthenticated):
        other.verify_access(access)
    expired = TokenManager("0123456789abcdef0123456789abcdef", access_ttl=-1)
    with pytest.raises(Unauthenticated, match="expired"):
        expired.verify_access(expired.mint_access("einstein"))


def test_users_file(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text(
        f'[[users]]\nusername = "ada"\npassword = "{hash_password("engine")}"\ngroups = ["math"]\n'
    )
    store = UserStore.from_file(path)
    user = asyncio.run(store.authenticate("ada", "engine"))
    assert user.username == "ada" and user.groups == ["math"]
    with pytest.raises(Unauthenticated):
        asyncio.run(store.authenticate("ada", "wrong"))
    with pytest.raises(Unauthenticated):
        asyncio.run(store.authenticate("nobody", "engine"))
    path.write_text('[[users]]\nusername = "ada"\npassword = "plain-text"\n')
    with pytest.raises(ConfigError, match="not an argon2 hash"):
        UserStore.from_file(path)
    path.write_text(f'[[users]]\nusername = "../root"\npassword = "{hash_password("x")}"\n')
    with pytest.raises(ConfigError, match="must be letters"):
        UserStore.from_file(path)


@pytest.mark.parametrize(
    ("document", "anchor", "mounts"),
    [("docs/server.md", "A complete example", 2), ("README.md", "## Configuration", 3)],
)
def test_documented_example_config_is_valid(
    tmp_path: Path, document: str, anchor: str, mounts: int
) -> None:
    """The example configs in the docs parse, mounts and driver options included."""
    import re

    from corestore.config import parse_options

    doc = (Path(__file__).parents[2] / document).read_text()
    block = re.search(re.escape(anchor) + r".*?```toml\n(.*?)```", doc, re.S)
    assert block is not None
    config = load_config(write(tmp_path, block.group(1)), root=tmp_path)
    assert len(config.mounts) == mounts
    for mount in config.mounts:
        parse_options(
            get_registry().get(mount.driver).Options,
            mount.options,
            section=mount.driver,
            environ={"CORESTORE_CUBBIT_P2P_SECRET": "from-the-environment"},  # as documented
        )
