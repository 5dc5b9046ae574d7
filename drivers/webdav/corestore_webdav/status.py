"""The one translator from WebDAV/HTTP failures to the corestore error tree.

Every request of the driver passes its response through :func:`raise_for_status` and every
transport failure through :func:`transport_errors`, so the mapping lives here only.

Status codes mean different things per method (RFC 4918): ``409`` is a missing parent for MKCOL,
PUT and MOVE; ``412`` is an etag mismatch for a conditional PUT but an existing destination for
``MOVE`` with ``Overwrite: F``. Callers pass those meanings as ``overrides``.

``401`` maps to :class:`PermissionDenied`, not :class:`Unauthenticated`: the credentials the
backend refused are the *mount's* service credentials, not the CS3 caller's. ``Unauthenticated``
would tell a client to log in again, which cannot help; the client may not use this storage until
an operator fixes the mount's configuration, which is what a permission error says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from corestore.errors import (
    AlreadyExists,
    CorestoreError,
    ETagMismatch,
    InsufficientStorage,
    InvalidPath,
    Locked,
    MissingParent,
    NotFound,
    PermissionDenied,
    RangeNotSatisfiable,
    Unavailable,
    Unimplemented,
)

if TYPE_CHECKING:
    import httpx

_BY_STATUS: dict[int, type[CorestoreError]] = {
    401: PermissionDenied,
    403: PermissionDenied,
    404: NotFound,
    405: AlreadyExists,  # MKCOL on an existing resource
    409: MissingParent,
    412: ETagMismatch,
    414: InvalidPath,
    416: RangeNotSatisfiable,
    423: Locked,
    501: Unimplemented,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
    507: InsufficientStorage,
}

_MESSAGES: dict[int, str] = {
    401: "the WebDAV server rejected the mount's credentials",
    403: "the WebDAV server denied access",
}


def error_for(
    status: int, what: str, overrides: Mapping[int, type[CorestoreError]] | None = None
) -> CorestoreError:
    """The corestore error for an HTTP status met while working on ``what`` (a driver path)."""
    cls = (overrides or {}).get(status) or _BY_STATUS.get(status, CorestoreError)
    reason = _MESSAGES.get(status, cls.default_message)
    if cls is CorestoreError:
        reason = f"WebDAV server answered {status}"
    return cls(f"{reason}: {what}" if what else reason)


def raise_for_status(
    response: httpx.Response,
    what: str,
    overrides: Mapping[int, type[CorestoreError]] | None = None,
) -> httpx.Response:
    """Return ``response`` if it succeeded (2xx), else raise its corestore error."""
    if response.is_success:
        return response
    raise error_for(response.status_code, what, overrides)


@contextmanager
def transport_errors(what: str) -> Iterator[None]:
    """Turn connection failures and timeouts into :class:`Unavailable` (retrying may help)."""
    import httpx

    try:
        yield
    except httpx.TransportError as exc:
        raise Unavailable(f"WebDAV server unreachable ({type(exc).__name__}): {what}") from exc
