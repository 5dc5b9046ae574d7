"""Who is calling: HTTP Basic against the users file, or ``Bearer`` with our access JWT.

Sync clients send Basic credentials on every request and argon2 is slow on purpose, so a
successful check is remembered for a few minutes under a salted hash of the credentials (never
the password itself). The first authenticated request of a user creates their home, as Reva does
on login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time

from aiohttp import web

from corestore.errors import Unauthenticated, Unimplemented
from corestore.state import ServerState
from corestore.users import User

__all__ = ["DavAuth"]

CACHE_SECONDS = 300
CACHE_LIMIT = 10_000


class DavAuth:
    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._salt = secrets.token_bytes(16)
        self._verified: dict[bytes, tuple[str, float]] = {}
        self._homes: set[str] = set()

    async def _basic(self, credentials: str) -> User:
        try:
            username, sep, password = (
                base64.b64decode(credentials, validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
        if not sep:
            raise Unauthenticated("malformed Basic credentials")
        key = hashlib.sha256(self._salt + credentials.encode()).digest()
        cached = self._verified.get(key)
        if cached and cached[1] > time.monotonic():
            user = self._state.users.get(cached[0])
            if user is not None:
                return user
        user = await self._state.users.authenticate(username, password)
        if len(self._verified) >= CACHE_LIMIT:
            self._verified.clear()
        self._verified[key] = (user.username, time.monotonic() + CACHE_SECONDS)
        return user

    async def user(self, request: web.Request) -> User:
        """The caller. :raises Unauthenticated: no or bad credentials."""
        scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() == "basic":
            user = await self._basic(credentials.strip())
        elif scheme.lower() == "bearer":
            user = await self._state.user_for_token(credentials.strip())
        else:
            raise Unauthenticated("credentials required (Basic or Bearer)")
        if user.username not in self._homes:
            try:
                await self._state.service.create_home(user)
            except Unimplemented:
                pass
            self._homes.add(user.username)
        return user


def challenge(message: str) -> web.Response:
    """The 401 a WebDAV client needs to retry with credentials (it must name the scheme)."""
    return web.Response(
        status=401,
        text=message + "\n",
        headers={"WWW-Authenticate": 'Basic realm="corestore", charset="UTF-8"'},
    )
