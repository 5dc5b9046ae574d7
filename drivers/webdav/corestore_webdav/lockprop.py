"""CS3 locks kept in a dead property, as JSON.

WebDAV's own LOCK cannot carry what CS3 needs (a lock id chosen by the client, the holder's user
and app, an absolute expiry), so the driver stores the :class:`~corestore.resources.Lock` itself
next to the resource. Dead properties move with the resource and vanish with it, which is what a
lock should do.
"""

from __future__ import annotations

import json

from corestore.resources import Lock, LockType

__all__ = ["dump_lock", "load_lock"]


def dump_lock(lock: Lock) -> str:
    return json.dumps(
        {
            "id": lock.lock_id,
            "type": lock.type.value,
            "user": lock.user,
            "app": lock.app_name,
            "exp": lock.expiration,
            "ctime": lock.creation_time,
        }
    )


def load_lock(text: str | None) -> Lock | None:
    """The stored lock, or ``None`` when there is none or it cannot be read (treated as no lock)."""
    if not text:
        return None
    try:
        raw = json.loads(text)
        return Lock(
            lock_id=str(raw["id"]),
            type=LockType(raw.get("type", "write")),
            user=raw.get("user"),
            app_name=raw.get("app"),
            expiration=raw.get("exp"),
            creation_time=raw.get("ctime"),
        )
    except (ValueError, KeyError, TypeError):
        return None
