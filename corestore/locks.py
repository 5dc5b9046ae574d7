"""Lock rules shared by every driver with :class:`~corestore.driver.SupportsLocks`.

Drivers store locks their own way; what a lock *permits* is decided here, once.
"""

from __future__ import annotations

import time

from corestore.errors import LockConflict, Locked
from corestore.resources import Lock

__all__ = ["check_lock_for_write", "check_new_lock", "check_lock_holder", "live_lock"]


def live_lock(lock: Lock | None, now: float | None = None) -> Lock | None:
    """The lock if it is still in force; an expired lock counts as none."""
    if lock is None or lock.expired(time.time() if now is None else now):
        return None
    return lock


def check_lock_for_write(lock: Lock | None, lock_id: str | None, what: str) -> None:
    """A write, delete, move or metadata change must present the id of a live lock.

    :raises Locked: the resource is locked and ``lock_id`` is not the lock's id.
    """
    current = live_lock(lock)
    if current is not None and current.lock_id != lock_id:
        raise Locked(f"{what} is locked")


def check_new_lock(lock: Lock | None, what: str) -> None:
    """A new lock may only be set where no live lock is held.

    :raises LockConflict: an unexpired lock is held.
    """
    if live_lock(lock) is not None:
        raise LockConflict(f"{what} is already locked")


def check_lock_holder(lock: Lock | None, presented: Lock, what: str, lock_id: str | None = None) -> Lock:
    """Refresh and unlock must come from the holder of a live lock; return that lock.

    :param lock_id: the id to compare instead of ``presented.lock_id`` (``existing_lock_id``
        of a refresh that changes the id).
    :raises LockConflict: not locked, or held by someone else.
    """
    current = live_lock(lock)
    if current is None:
        raise LockConflict(f"{what} is not locked")
    probe = presented if lock_id is None else Lock(
        lock_id=lock_id, user=presented.user, app_name=presented.app_name
    )
    if not current.same_holder(probe):
        raise LockConflict(f"{what} is locked by another holder")
    return current
