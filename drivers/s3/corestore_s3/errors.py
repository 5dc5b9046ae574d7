"""The one translator from S3/botocore failures to the corestore error tree.

Every backend call of the driver runs inside :func:`s3_errors`, so the mapping lives here only.
S3 reports failures as an error *code* in the response (``NoSuchKey``, ``AccessDenied``,
``SlowDown``); HEAD requests have no body, so for them only the HTTP status is known, which is
why bare status codes appear in the table too. Transport failures (refused connection, timeout)
become :class:`~corestore.errors.Unavailable`.

botocore is not imported at module level: loading the plugin must stay cheap, and by the time an
error exists botocore is loaded anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from corestore.errors import (
    Aborted,
    CorestoreError,
    ETagMismatch,
    InsufficientStorage,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RangeNotSatisfiable,
    Unavailable,
)

__all__ = ["error_code", "s3_errors", "translate"]

_CODES: dict[str, type[CorestoreError]] = {
    **dict.fromkeys(("NoSuchKey", "NotFound", "404", "NoSuchVersion"), NotFound),
    **dict.fromkeys(
        (
            "AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch",
            "AllAccessDisabled", "ExpiredToken", "InvalidToken", "AccountProblem",
            "InvalidSecurity", "TokenRefreshRequired",
        ),
        PermissionDenied,
    ),
    **dict.fromkeys(
        (
            "SlowDown", "503", "ServiceUnavailable", "Throttling", "ThrottlingException",
            "RequestTimeout", "InternalError", "500", "RequestTimeTooSkewed",
        ),
        Unavailable,
    ),
    **dict.fromkeys(("PreconditionFailed", "412"), ETagMismatch),
    **dict.fromkeys(("InvalidRange", "416"), RangeNotSatisfiable),
    **dict.fromkeys(("QuotaExceeded", "ServiceQuotaExceeded"), InsufficientStorage),
    **dict.fromkeys(("NoSuchUpload", "OperationAborted", "409"), Aborted),
    **dict.fromkeys(
        (
            "InvalidArgument", "InvalidRequest", "KeyTooLongError", "MetadataTooLarge",
            "EntityTooLarge", "EntityTooSmall", "InvalidPart", "InvalidPartOrder", "400",
        ),
        InvalidArgument,
    ),
}  # fmt: skip


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else None


def translate(exc: BaseException, what: str = "") -> CorestoreError:
    """The corestore error for a backend failure; its message names ``what``, never a key."""
    if isinstance(exc, CorestoreError):
        return exc
    suffix = f": {what}" if what else ""
    code = error_code(exc)
    if code == "NoSuchBucket":
        return Unavailable(f"the bucket of this storage does not exist{suffix}")
    if code is not None:
        cls = _CODES.get(code)
        if cls is None:
            return CorestoreError(f"storage backend error {code}{suffix}")
        if cls is PermissionDenied:
            return PermissionDenied(
                f"the S3 backend refused the credentials or access ({code}){suffix}"
            )
        return cls(f"{cls.default_message}{suffix}")
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
        return PermissionDenied("no usable S3 credentials are configured")
    if isinstance(exc, OSError | asyncio.TimeoutError) or _is_transport_error(exc):
        return Unavailable(f"the S3 endpoint cannot be reached{suffix}")
    return CorestoreError(f"storage backend error{suffix}")


def _is_transport_error(exc: BaseException) -> bool:
    """botocore's HTTP/connection errors and aiohttp's, matched without importing them."""
    for cls in type(exc).__mro__:
        if cls.__module__.startswith(("botocore", "aiohttp")) and cls.__name__ in (
            "HTTPClientError", "ConnectionError", "EndpointConnectionError",
            "ResponseStreamingError", "ClientError", "ReadTimeoutError", "ConnectTimeoutError",
            "IncompleteReadError",
        ):  # fmt: skip
            return error_code(exc) is None
    return False


@contextmanager
def s3_errors(what: str = "") -> Iterator[None]:
    """Re-raise any backend failure inside the block as a corestore error (cause kept)."""
    try:
        yield
    except CorestoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - this *is* the boundary
        raise translate(exc, what) from exc
