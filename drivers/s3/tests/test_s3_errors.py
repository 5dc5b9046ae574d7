"""The S3 error translator: every S3 failure class lands on the right branch of the error tree.

Throttling and server errors cannot be provoked from moto on demand, so the translator is
checked on the real botocore exception objects it receives; the end-to-end paths (missing keys,
wrong credentials, unreachable endpoint) are covered against moto in ``test_s3_behaviour.py``.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ResponseStreamingError,
)
from corestore_s3.errors import s3_errors, translate

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


def _client_error(code: str, status: int = 400) -> ClientError:
    response = {"Error": {"Code": code, "Message": "internal detail"}}
    response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "GetObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("NoSuchKey", NotFound),
        ("404", NotFound),
        ("NoSuchVersion", NotFound),
        ("AccessDenied", PermissionDenied),
        ("InvalidAccessKeyId", PermissionDenied),
        ("SignatureDoesNotMatch", PermissionDenied),
        ("ExpiredToken", PermissionDenied),
        ("SlowDown", Unavailable),
        ("ServiceUnavailable", Unavailable),
        ("InternalError", Unavailable),
        ("NoSuchBucket", Unavailable),
        ("PreconditionFailed", ETagMismatch),
        ("InvalidRange", RangeNotSatisfiable),
        ("QuotaExceeded", InsufficientStorage),
        ("NoSuchUpload", Aborted),
        ("EntityTooLarge", InvalidArgument),
        ("SomethingNew", CorestoreError),
    ],
)
def test_client_errors(code: str, expected: type[CorestoreError]) -> None:
    error = translate(_client_error(code), "/a/b")
    assert type(error) is expected
    assert "internal detail" not in error.message and "/a/b" in error.message


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        ResponseStreamingError(error="connection reset"),
        ConnectionResetError("reset"),
        TimeoutError(),
    ],
)
def test_transport_errors_are_unavailable(exc: Exception) -> None:
    assert type(translate(exc)) is Unavailable


def test_missing_credentials_are_permission_denied() -> None:
    assert type(translate(NoCredentialsError())) is PermissionDenied


def test_boundary_keeps_the_cause_and_passes_our_errors() -> None:
    original = _client_error("SlowDown", 503)
    with pytest.raises(Unavailable) as caught, s3_errors("/x"):
        raise original
    assert caught.value.__cause__ is original
    mine = NotFound("mine")
    with pytest.raises(NotFound) as caught_mine, s3_errors("/x"):
        raise mine
    assert caught_mine.value is mine
