"""The error tree maps to CS3 codes and HTTP statuses in one place, and every code exists."""

from __future__ import annotations

import errno
import inspect

import pytest
from cs3.rpc.v1beta1 import code_pb2

from corestore import errors
from corestore.errors import CorestoreError, translate_os_error

ALL = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, CorestoreError)]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_class_maps_to_a_real_cs3_code_and_http_status(cls: type[CorestoreError]) -> None:
    assert cls.cs3_code in code_pb2.Code.keys()
    assert cls.cs3_code not in ("CODE_OK", "CODE_INVALID")
    assert 400 <= cls.http_status <= 599
    assert cls.__doc__, "every error class documents when it is raised"


def test_tree_is_drawn_in_the_module_docstring() -> None:
    for cls in ALL:
        assert cls.__name__ in errors.__doc__


def test_builtin_bases_keep_fsspec_style_callers_working() -> None:
    assert issubclass(errors.NotFound, FileNotFoundError)
    assert issubclass(errors.AlreadyExists, FileExistsError)
    assert issubclass(errors.PermissionDenied, PermissionError)
    assert issubclass(errors.InvalidArgument, ValueError)


def test_message_defaults_and_overrides() -> None:
    assert errors.NotFound().message == "not found"
    assert errors.NotFound("/a missing").message == "/a missing"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOENT, errors.NotFound),
        (errno.EEXIST, errors.AlreadyExists),
        (errno.ENOTEMPTY, errors.FolderNotEmpty),
        (errno.ENOSPC, errors.InsufficientStorage),
        (errno.EIO, errors.CorestoreError),
    ],
)
def test_translate_os_error(code: int, expected: type[CorestoreError]) -> None:
    with pytest.raises(expected) as excinfo, translate_os_error("/a/b"):
        raise OSError(code, "host detail /srv/secret/path")
    assert type(excinfo.value) is expected
    assert "/srv/secret" not in excinfo.value.message, "host paths never reach the client"
    assert isinstance(excinfo.value.__cause__, OSError)
