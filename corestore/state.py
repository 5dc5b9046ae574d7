"""What the gRPC servicers and the HTTP data path of one server share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corestore.auth import TokenManager
from corestore.errors import Unauthenticated
from corestore.metrics import Metrics
from corestore.service import StorageService
from corestore.users import User, UserStore

__all__ = ["ServerState"]


@dataclass
class ServerState:
    service: StorageService
    users: UserStore
    tokens: TokenManager
    metrics: Metrics
    idp: str
    data_url: str  # base URL of the HTTP data path, e.g. http://127.0.0.1:19001/data
    upload_dir: Path
    ocm: Any = None  # the corestore.ocm.site.OcmSite when [ocm] is enabled

    async def user_for_token(self, token: str | None) -> User:
        """The user an access token names. :raises Unauthenticated: bad token or unknown user."""
        username = self.tokens.verify_access(token)
        user = self.users.get(username)
        if user is None:
            raise Unauthenticated("the token's user no longer exists")
        return user
