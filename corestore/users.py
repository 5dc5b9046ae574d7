"""Users and their passwords: the ``basic`` authentication backend.

Passwords are stored as argon2id hashes (argon2-cffi), never in clear. A users file is TOML::

    [[users]]
    username = "einstein"
    password = "$argon2id$v=19$m=65536,t=3,p=4$..."   # `corestore serve --hash-password`
    display_name = "Albert Einstein"
    mail = "einstein@example.org"
    groups = ["physicists"]

Without a users file the server runs with Reva's three demo users (hashed at startup), which is
for trying things out, never for production.
"""

from __future__ import annotations

import asyncio
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from corestore.config import option, parse_options
from corestore.errors import ConfigError, Unauthenticated

__all__ = ["DEMO_USERS", "User", "UserStore", "hash_password"]

#: Reva's demo accounts: (username, password, display name, mail).
DEMO_USERS = (
    ("einstein", "relativity", "Albert Einstein", "einstein@example.org"),
    ("marie", "radioactivity", "Marie Curie", "marie@example.org"),
    ("richard", "superfluidity", "Richard Feynman", "richard@example.org"),
)

_hasher = PasswordHasher()
#: Usernames name home folders, so they must be plain, safe path segments.
_USERNAME = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_.@-]{0,63}")


def hash_password(password: str) -> str:
    """An argon2id hash for a users file."""
    return _hasher.hash(password)


@dataclass(frozen=True)
class User:
    username: str = option(doc="login name; also the user id and the home folder name")
    password: str = option(doc="argon2 hash of the password", secret=True)
    display_name: str = option("", doc="human-readable name")
    mail: str = option("", doc="e-mail address")
    groups: list[str] = option([], doc="group names, matched against group grants")


class UserStore:
    """Looks users up and checks passwords, off the event loop (argon2 is deliberately slow)."""

    def __init__(self, users: list[User]) -> None:
        self._users = {u.username: u for u in users}
        # Verifying against a dummy hash for unknown users keeps timing from revealing who exists.
        self._dummy_hash = hash_password("not-a-user")

    @classmethod
    def demo(cls) -> UserStore:
        return cls([User(u, hash_password(p), d, m) for u, p, d, m in DEMO_USERS])

    @classmethod
    def from_file(cls, path: Path) -> UserStore:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read users file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"users file {path} is not valid TOML: {exc}") from exc
        entries = raw.get("users")
        if not isinstance(entries, list):
            raise ConfigError(f"users file {path}: expected [[users]] tables")
        users = [
            parse_options(User, e, section=f"users[{i}]", environ={}) for i, e in enumerate(entries)
        ]
        for user in users:
            if not _USERNAME.fullmatch(user.username):
                raise ConfigError(
                    f"users file {path}: username {user.username!r} must be letters, digits, '.-_@'"
                )
            if not user.password.startswith("$argon2"):
                raise ConfigError(
                    f"users file {path}: password of {user.username!r} is not an argon2 hash"
                )
        return cls(users)

    def get(self, username: str) -> User | None:
        return self._users.get(username)

    def __contains__(self, username: object) -> bool:
        return username in self._users

    async def authenticate(self, username: str, password: str) -> User:
        """The user, if the password matches. :raises Unauthenticated: otherwise (one message)."""
        user = self._users.get(username)
        stored = user.password if user else self._dummy_hash
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise Unauthenticated("wrong username or password") from None
        if user is None:
            raise Unauthenticated("wrong username or password")
        return user
