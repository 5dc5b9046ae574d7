"""The one error tree of corestore.

Every failure a driver, the gRPC layer or the HTTP layer reports is one of these classes. Each
class carries the CS3 status code (``cs3_code``, the name of a ``cs3.rpc.v1beta1.Code`` value) and
the HTTP status (``http_status``) that it maps to. Those two attributes are the *only* place the
mapping lives: ``corestore.grpc`` and ``corestore.http`` read them, and no RPC or handler repeats it.

Drivers translate backend errors into this tree at their own boundary (see
:func:`translate_os_error`) and re-raise with ``from exc`` so the cause is kept for logs, while a
client only ever sees the class's message.

The tree::

    CorestoreError                      CODE_INTERNAL             500
    ├── NotFound                        CODE_NOT_FOUND            404   (also FileNotFoundError)
    ├── AlreadyExists                   CODE_ALREADY_EXISTS       409   (also FileExistsError)
    ├── PermissionDenied                CODE_PERMISSION_DENIED    403   (also PermissionError)
    │   └── PathEscape                  CODE_PERMISSION_DENIED    403
    ├── Unauthenticated                 CODE_UNAUTHENTICATED      401
    ├── InvalidArgument                 CODE_INVALID_ARGUMENT     400   (also ValueError)
    │   ├── InvalidPath                 CODE_INVALID_ARGUMENT     400
    │   └── ConfigError                 CODE_INVALID_ARGUMENT     400
    ├── FailedPrecondition              CODE_FAILED_PRECONDITION  412
    │   ├── MissingParent               CODE_FAILED_PRECONDITION  409
    │   ├── NotAFolder                  CODE_FAILED_PRECONDITION  409
    │   ├── IsAFolder                   CODE_FAILED_PRECONDITION  409
    │   ├── FolderNotEmpty              CODE_FAILED_PRECONDITION  409
    │   ├── MoveIntoItself              CODE_FAILED_PRECONDITION  409
    │   ├── ETagMismatch                CODE_FAILED_PRECONDITION  412
    │   └── LockConflict                CODE_FAILED_PRECONDITION  409
    ├── Locked                          CODE_LOCKED               423
    ├── ChecksumMismatch                CODE_INVALID_ARGUMENT     419
    ├── RangeNotSatisfiable             CODE_OUT_OF_RANGE         416
    ├── InsufficientStorage             CODE_INSUFFICIENT_STORAGE 507
    ├── Unimplemented                   CODE_UNIMPLEMENTED        501
    ├── Unavailable                     CODE_UNAVAILABLE          503
    ├── Aborted                         CODE_ABORTED              409
    └── DataLoss                        CODE_DATA_LOSS            500

``Locked`` answers a write without the right lock id, ``LockConflict`` a lock request against
a lock someone else holds. CS3 keeps the two apart (``CODE_LOCKED`` vs ``CODE_FAILED_PRECONDITION``),
and cs3client maps both to its ``FileLockedException``.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

__all__ = [
    "Aborted",
    "AlreadyExists",
    "ChecksumMismatch",
    "ConfigError",
    "CorestoreError",
    "DataLoss",
    "ETagMismatch",
    "FailedPrecondition",
    "FolderNotEmpty",
    "InsufficientStorage",
    "InvalidArgument",
    "InvalidPath",
    "IsAFolder",
    "LockConflict",
    "Locked",
    "MissingParent",
    "MoveIntoItself",
    "NotAFolder",
    "NotFound",
    "PathEscape",
    "PermissionDenied",
    "RangeNotSatisfiable",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "translate_os_error",
]


class CorestoreError(Exception):
    """Root of the tree. Raised as is, it means an internal error the client cannot fix."""

    cs3_code: ClassVar[str] = "CODE_INTERNAL"
    http_status: ClassVar[int] = 500
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        """The text a client may see: never a traceback, never a backend's internals."""
        return str(self.args[0]) if self.args else self.default_message


class NotFound(CorestoreError, FileNotFoundError):
    """The referenced resource, id, version, recycle item or lock does not exist."""

    cs3_code = "CODE_NOT_FOUND"
    http_status = 404
    default_message = "not found"


class AlreadyExists(CorestoreError, FileExistsError):
    """The target of a create (folder, touch, exclusive write, move) is taken."""

    cs3_code = "CODE_ALREADY_EXISTS"
    http_status = 409
    default_message = "already exists"


class PermissionDenied(CorestoreError, PermissionError):
    """The caller is known but may not do this (no grant, read-only share, wrong credentials)."""

    cs3_code = "CODE_PERMISSION_DENIED"
    http_status = 403
    default_message = "permission denied"


class PathEscape(PermissionDenied):
    """A path tried to leave its root: ``..``, an absolute path, or a symlink pointing out."""

    default_message = "path escapes its root"


class Unauthenticated(CorestoreError):
    """No credentials, or credentials that are expired, forged or wrong."""

    cs3_code = "CODE_UNAUTHENTICATED"
    http_status = 401
    default_message = "unauthenticated"


class InvalidArgument(CorestoreError, ValueError):
    """The request itself is malformed; retrying it unchanged cannot succeed."""

    cs3_code = "CODE_INVALID_ARGUMENT"
    http_status = 400
    default_message = "invalid argument"


class InvalidPath(InvalidArgument):
    """A path that is not a valid name: NUL bytes, empty segments where a name is needed, too long."""

    default_message = "invalid path"


class ConfigError(InvalidArgument):
    """Configuration that does not fit its schema: an unknown key, a wrong type, a missing value."""

    default_message = "invalid configuration"


class FailedPrecondition(CorestoreError):
    """The request is valid but the state of the resource does not allow it."""

    cs3_code = "CODE_FAILED_PRECONDITION"
    http_status = 412
    default_message = "failed precondition"


class MissingParent(FailedPrecondition):
    """The parent folder of the target does not exist (WebDAV answers 409 Conflict)."""

    http_status = 409
    default_message = "parent folder does not exist"


class NotAFolder(FailedPrecondition):
    """A folder operation (list, create child) met a file."""

    http_status = 409
    default_message = "not a folder"


class IsAFolder(FailedPrecondition):
    """A file operation (read, write, touch) met a folder."""

    http_status = 409
    default_message = "is a folder"


class FolderNotEmpty(FailedPrecondition):
    """A folder could not be replaced because it has children."""

    http_status = 409
    default_message = "folder is not empty"


class MoveIntoItself(FailedPrecondition):
    """A folder cannot be moved or copied below itself."""

    http_status = 409
    default_message = "cannot move a folder into itself"


class ETagMismatch(FailedPrecondition):
    """An ``if_match`` etag no longer matches the resource."""

    http_status = 412
    default_message = "etag does not match"


class LockConflict(FailedPrecondition):
    """A lock operation met a lock held by someone else, or no lock where one was expected."""

    http_status = 409
    default_message = "resource is locked by another holder"


class Locked(CorestoreError):
    """A write met a lock and the caller did not present its lock id."""

    cs3_code = "CODE_LOCKED"
    http_status = 423
    default_message = "resource is locked"


class ChecksumMismatch(CorestoreError):
    """The bytes received do not match the checksum the client announced. Nothing was stored."""

    cs3_code = "CODE_INVALID_ARGUMENT"
    http_status = 419
    default_message = "checksum mismatch"


class RangeNotSatisfiable(CorestoreError):
    """A byte range starts past the end of the file."""

    cs3_code = "CODE_OUT_OF_RANGE"
    http_status = 416
    default_message = "range not satisfiable"


class InsufficientStorage(CorestoreError):
    """Quota or disk space is exhausted. Nothing was stored."""

    cs3_code = "CODE_INSUFFICIENT_STORAGE"
    http_status = 507
    default_message = "insufficient storage"


class Unimplemented(CorestoreError, NotImplementedError):
    """The driver (or this deployment) lacks the capability the request needs."""

    cs3_code = "CODE_UNIMPLEMENTED"
    http_status = 501
    default_message = "not implemented by this storage"


class Unavailable(CorestoreError):
    """The backend cannot be reached or is overloaded; retrying later may succeed."""

    cs3_code = "CODE_UNAVAILABLE"
    http_status = 503
    default_message = "storage backend unavailable"


class Aborted(CorestoreError):
    """A concurrent change won a race; retrying may succeed."""

    cs3_code = "CODE_ABORTED"
    http_status = 409
    default_message = "aborted by a concurrent change"


class DataLoss(CorestoreError):
    """Stored data is corrupt or incomplete and could not be repaired."""

    cs3_code = "CODE_DATA_LOSS"
    http_status = 500
    default_message = "data loss"


_ERRNO_TO_ERROR: dict[int, type[CorestoreError]] = {
    errno.ENOENT: NotFound,
    errno.EEXIST: AlreadyExists,
    errno.EACCES: PermissionDenied,
    errno.EPERM: PermissionDenied,
    errno.ENOTDIR: NotAFolder,
    errno.EISDIR: IsAFolder,
    errno.ENOTEMPTY: FolderNotEmpty,
    errno.ENOSPC: InsufficientStorage,
    errno.EDQUOT: InsufficientStorage,
    errno.ENAMETOOLONG: InvalidPath,
    errno.ELOOP: PathEscape,
    errno.EXDEV: Unimplemented,
}


@contextmanager
def translate_os_error(what: str = "") -> Iterator[None]:
    """Re-raise an ``OSError`` from a file-system backend as the most specific corestore error.

    ``what`` names the resource for the message (a driver-relative path, never a host path: the
    message reaches the client). Errors already in the tree pass through untouched.
    """
    try:
        yield
    except CorestoreError:
        raise
    except OSError as exc:
        cls = _ERRNO_TO_ERROR.get(exc.errno or 0, CorestoreError)
        text = f"{cls.default_message}: {what}" if what else cls.default_message
        raise cls(text) from exc
