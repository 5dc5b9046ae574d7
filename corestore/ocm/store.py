"""What an OCM site remembers: invites, contacts, outgoing and received shares.

Everything lives in memory and is written to one JSON file after each change (atomically, off
the event loop), so a restart keeps invites and shares. The volumes are small (one record per
invite, contact or share), which is why a file is enough here.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["Contact", "Invite", "OcmStore", "OutgoingShare", "ReceivedShare"]


@dataclass
class Invite:
    token: str
    owner: str  # local username
    description: str
    expiration: float
    created: float
    accepted_by: str = ""  # "<userID>@<domain>" once used (tokens are single-use)


@dataclass
class Contact:
    """A remote user a local user is connected with through an accepted invite."""

    local_user: str
    user_id: str  # the identifier at the remote site
    domain: str
    email: str = ""
    name: str = ""
    created: float = 0.0

    @property
    def address(self) -> str:
        return f"{self.user_id}@{self.domain}"


@dataclass
class OutgoingShare:
    id: str
    secret: str
    owner: str  # local username
    storage_id: str
    opaque_id: str
    path: str  # global path when shared (a hint; the id is authoritative)
    name: str
    resource_type: str  # "file" | "folder"
    grantee: str  # remote user id
    grantee_domain: str
    permissions: list[str]  # "read", "write"
    ctime: float
    mtime: float
    expiration: float = 0.0
    recipient_display_name: str = ""


@dataclass
class ReceivedShare:
    id: str
    remote_share_id: str  # the sender's providerId
    name: str
    share_with: str  # local username
    owner: str  # OCM address
    sender: str  # OCM address
    peer: str  # the sending site's domain
    resource_type: str
    share_type: str
    uri: str  # absolute WebDAV URL of the shared resource
    secret: str
    permissions: list[str]
    requirements: list[str]
    ctime: float
    description: str = ""
    expiration: float = 0.0
    state: str = "pending"  # pending | accepted | rejected
    owner_display_name: str = ""


def _load(cls: type, rows: list[dict[str, Any]]) -> list[Any]:
    names = {f.name for f in fields(cls)}
    return [cls(**{k: v for k, v in row.items() if k in names}) for row in rows]


@dataclass
class OcmStore:
    path: Path
    invites: dict[str, Invite] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    outgoing: dict[str, OutgoingShare] = field(default_factory=dict)
    received: dict[str, ReceivedShare] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._write_lock = asyncio.Lock()

    @classmethod
    def open(cls, path: Path) -> OcmStore:
        store = cls(path)
        if path.exists():
            raw = json.loads(path.read_text())
            store.invites = {i.token: i for i in _load(Invite, raw.get("invites", []))}
            store.contacts = _load(Contact, raw.get("contacts", []))
            store.outgoing = {s.id: s for s in _load(OutgoingShare, raw.get("outgoing", []))}
            store.received = {s.id: s for s in _load(ReceivedShare, raw.get("received", []))}
        return store

    def _snapshot(self) -> bytes:
        return json.dumps(
            {
                "invites": [asdict(i) for i in self.invites.values()],
                "contacts": [asdict(c) for c in self.contacts],
                "outgoing": [asdict(s) for s in self.outgoing.values()],
                "received": [asdict(s) for s in self.received.values()],
            },
            indent=1,
        ).encode()

    async def save(self) -> None:
        data = self._snapshot()  # taken on the loop: consistent with the in-memory state
        async with self._write_lock:
            await asyncio.to_thread(self._write, data)

    def _write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds shared secrets
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self.path)

    def contact(self, local_user: str, user_id: str, domain: str) -> Contact | None:
        return next(
            (
                c
                for c in self.contacts
                if c.local_user == local_user and c.user_id == user_id and c.domain == domain
            ),
            None,
        )
