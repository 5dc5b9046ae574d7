"""Where things live in the bucket, and how our facts are spelled in S3 object metadata.

Under the configured prefix ``P``:

* a file ``/a/b.txt`` is the object ``P a/b.txt``;
* a folder ``/a`` is the zero-byte *marker* object ``P a/`` (S3 console convention); its
  metadata carries the folder's id and its *tree etag*;
* the root folder's marker is ``P .corestore/root`` (a key cannot be empty);
* the id index is ``P .corestore/ids/<id>``: a small object whose body is the resource's
  current path (``f:/a/b.txt`` or ``d:/a``), rewritten on every move.

So the name ``.corestore`` is reserved at the root: it is hidden from listings and refused in
paths. Our own metadata keys start with ``cs-``; S3 lowercases them, so they are lowercase here.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from corestore.errors import InvalidArgument, InvalidPath
from corestore.paths import join_path, split_path

__all__ = ["INTERNAL", "Layout", "Meta", "derived_id", "path_of_derived_id"]

#: The reserved root entry holding the root marker and the id index.
INTERNAL = ".corestore"
#: S3 allows 2 KiB of user metadata per object; we keep a margin for our own keys.
MAX_USER_METADATA = 1536

ID = "cs-id"
ETAG = "cs-etag"
MTIME = "cs-mtime"
CHECKSUM = "cs-checksum"
USER = "cs-meta"


class Layout:
    """Maps validated path segments to object keys under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.root_marker = f"{self.prefix}{INTERNAL}/root"
        self.index_prefix = f"{self.prefix}{INTERNAL}/ids/"
        self.internal_prefix = f"{self.prefix}{INTERNAL}/"

    @staticmethod
    def segments(path: str) -> tuple[str, ...]:
        """Validate a path (core rules, plus the reserved name) into segments."""
        segments = split_path(path)
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidPath("S3 keys must be valid UTF-8") from None
        if segments and segments[0] == INTERNAL:
            raise InvalidPath(f"the name {INTERNAL!r} is reserved by the s3 driver")
        return segments

    def file_key(self, segments: tuple[str, ...]) -> str:
        return self.prefix + "/".join(segments)

    def marker_key(self, segments: tuple[str, ...]) -> str:
        """The folder marker; for the root, the reserved root marker."""
        return self.folder_prefix(segments) if segments else self.root_marker

    def folder_prefix(self, segments: tuple[str, ...]) -> str:
        """The key prefix every object below the folder starts with."""
        return self.prefix + "".join(s + "/" for s in segments)

    def index_key(self, resource_id: str) -> str:
        if not resource_id or "/" in resource_id or resource_id in (".", ".."):
            raise InvalidArgument("malformed resource id")
        return self.index_prefix + resource_id

    def segments_of_key(self, key: str) -> tuple[str, ...]:
        """Inverse of :meth:`file_key` / :meth:`folder_prefix` (a trailing slash is dropped)."""
        return tuple(s for s in key[len(self.prefix) :].split("/") if s)


@dataclass(frozen=True, slots=True)
class Meta:
    """Our facts about an object, decoded from its S3 user metadata."""

    id: str | None = None
    etag: str | None = None
    mtime: float | None = None
    checksum: str | None = None
    user: Mapping[str, str] = None  # type: ignore[assignment]

    @classmethod
    def decode(cls, metadata: Mapping[str, str]) -> Meta:
        user: dict[str, str] = {}
        if metadata.get(USER):
            try:
                user = json.loads(urllib.parse.unquote(metadata[USER]))
            except ValueError:
                user = {}
        mtime = metadata.get(MTIME)
        try:
            mtime_value = float(mtime) if mtime else None
        except ValueError:
            mtime_value = None
        return cls(
            id=metadata.get(ID) or None,
            etag=metadata.get(ETAG) or None,
            mtime=mtime_value,
            checksum=metadata.get(CHECKSUM) or None,
            user=user,
        )

    def encode(self) -> dict[str, str]:
        """S3 user metadata: ASCII only, so arbitrary user metadata is percent-encoded JSON."""
        out: dict[str, str] = {}
        if self.id:
            out[ID] = self.id
        if self.etag:
            out[ETAG] = self.etag
        if self.mtime is not None:
            out[MTIME] = repr(float(self.mtime))
        if self.checksum:
            out[CHECKSUM] = self.checksum
        if self.user:
            encoded = urllib.parse.quote(json.dumps(dict(self.user), separators=(",", ":")))
            if len(encoded) > MAX_USER_METADATA:
                raise InvalidArgument(
                    f"arbitrary metadata is limited to about {MAX_USER_METADATA} bytes on S3"
                )
            out[USER] = encoded
        return out

    def replace(self, **changes: object) -> Meta:
        fields = {
            "id": self.id, "etag": self.etag, "mtime": self.mtime,
            "checksum": self.checksum, "user": self.user,
        }  # fmt: skip
        fields.update(changes)
        return Meta(**fields)  # type: ignore[arg-type]


def derived_id(segments: tuple[str, ...]) -> str:
    """The id of an object written by another S3 client (no ``cs-id``): its path, encoded.

    It is stable while the object stays put; the driver's first move of such an object records
    this id in the copy's metadata and in the index, so it stays stable from then on.
    """
    raw = join_path(segments).encode("utf-8", "surrogatepass")
    return "p." + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def path_of_derived_id(resource_id: str) -> str | None:
    """The path a derived id encodes, or ``None`` for a minted id."""
    if not resource_id.startswith("p."):
        return None
    body = resource_id[2:]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode(
            "utf-8", "surrogatepass"
        )
    except ValueError:
        return None
