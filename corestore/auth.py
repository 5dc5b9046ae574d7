"""Access tokens and transfer tokens: JWTs signed with the server's secret.

* An **access token** is what ``Authenticate`` returns and every later gRPC call carries in the
  ``x-access-token`` metadata. cs3client decodes it locally and reads ``exp``, so it must be a JWT.
* A **transfer token** authorises one data-path operation (``upload`` or ``download``) on one
  resource for one user. ``InitiateFileUpload``/``InitiateFileDownload`` mint it; the HTTP data
  path accepts nothing else. It is short-lived and carries the write options of the upload.

Both kinds share one signer but differ in ``typ`` and audience, so neither can stand in for the
other.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from corestore.errors import PermissionDenied, Unauthenticated

__all__ = ["TokenManager", "TransferClaims"]

_ALGORITHM = "HS256"
_ACCESS_AUDIENCE = "corestore"
_TRANSFER_AUDIENCE = "corestore-data"


@dataclass(frozen=True)
class TransferClaims:
    """What a transfer token allows: ``op`` on ``target`` (a JSON-able dict) as ``user``."""

    user: str
    op: str
    target: dict[str, Any]
    exp: int


class TokenManager:
    def __init__(
        self, secret: str = "", *, access_ttl: int = 86400, transfer_ttl: int = 3600
    ) -> None:
        self.ephemeral = not secret
        self._secret = secret or secrets.token_urlsafe(32)
        self.access_ttl = access_ttl
        self.transfer_ttl = transfer_ttl

    def _sign(self, claims: dict[str, Any], ttl: int) -> str:
        now = int(time.time())
        return jwt.encode(
            {**claims, "iat": now, "exp": now + ttl}, self._secret, algorithm=_ALGORITHM
        )

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        return jwt.decode(
            token,
            self._secret,
            algorithms=[_ALGORITHM],
            audience=audience,
            options={"require": ["exp", "sub", "aud"]},
        )

    def mint_access(self, username: str) -> str:
        return self._sign(
            {"sub": username, "aud": _ACCESS_AUDIENCE, "typ": "access"}, self.access_ttl
        )

    def verify_access(self, token: str | None) -> str:
        """The username a valid access token names.

        :raises Unauthenticated: missing, expired, forged or not an access token.
        """
        if not token:
            raise Unauthenticated("missing access token (x-access-token)")
        try:
            claims = self._decode(token, _ACCESS_AUDIENCE)
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token expired") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("invalid access token") from None
        if claims.get("typ") != "access":
            raise Unauthenticated("not an access token")
        return str(claims["sub"])

    def mint_transfer(self, username: str, op: str, target: dict[str, Any]) -> str:
        claims = {
            "sub": username,
            "aud": _TRANSFER_AUDIENCE,
            "typ": "transfer",
            "op": op,
            "target": target,
        }
        return self._sign(claims, self.transfer_ttl)

    def verify_transfer(self, token: str | None, op: str) -> TransferClaims:
        """:raises Unauthenticated: missing/expired/forged. :raises PermissionDenied: wrong op."""
        if not token:
            raise Unauthenticated("missing transfer token (X-Reva-Transfer)")
        try:
            claims = self._decode(token, _TRANSFER_AUDIENCE)
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("transfer token expired") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("invalid transfer token") from None
        if claims.get("typ") != "transfer" or not isinstance(claims.get("target"), dict):
            raise Unauthenticated("not a transfer token")
        if claims.get("op") != op:
            raise PermissionDenied(f"this transfer token does not allow {op}")
        return TransferClaims(
            user=str(claims["sub"]), op=op, target=claims["target"], exp=int(claims["exp"])
        )
