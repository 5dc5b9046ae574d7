"""What the ownCloud/Nextcloud dialect adds to plain WebDAV: properties, listings and endpoints.

Everything here is pure (bytes in, dataclasses out) so it is tested on the servers' own published
responses (``tests/fixtures``) without a server.

ownCloud 10 and Nextcloud differ in where they put things:

* versions of a file: ``meta/<fileid>/v`` (ownCloud; GET ``v/<key>``, restore by COPY onto the
  file) or ``versions/<user>/versions/<fileid>`` (Nextcloud; restore by MOVE to
  ``versions/<user>/restore/target``);
* trash bin: ``trash-bin/<user>/`` keyed by file id, restored by MOVE to the file's path
  (ownCloud), or ``trashbin/<user>/trash/`` keyed by ``<name>.d<time>``, restored by MOVE to
  ``trashbin/<user>/restore/<key>`` (Nextcloud);
* trash properties: ``oc:trashbin-original-{filename,location}`` and
  ``oc:trashbin-delete-{timestamp,datetime}`` (ownCloud), ``nc:trashbin-{filename,
  original-location,deletion-time}`` (Nextcloud);
* id to path: ``meta/<fileid>`` answers ``oc:meta-path-for-user`` (ownCloud only).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element

from corestore_webdav.propfind import Entry, MultistatusParser

from corestore.resources import Checksum

__all__ = [
    "OC",
    "NC",
    "OC_CHECKSUMS",
    "TRASH_PROPS",
    "Capabilities",
    "OcEntry",
    "OcMultistatusParser",
    "parse_capabilities",
    "parse_checksums",
    "parse_multistatus",
    "product_of_status",
]

OC = "{http://owncloud.org/ns}"
NC = "{http://nextcloud.org/ns}"
DAV = "{DAV:}"

OC_CHECKSUMS = f"{OC}checksums"
OC_SIZE = f"{OC}size"
META_PATH = f"{OC}meta-path-for-user"
TRASH_PROPS = (
    f"{OC}trashbin-original-filename",
    f"{OC}trashbin-original-location",
    f"{OC}trashbin-delete-timestamp",
    f"{OC}trashbin-delete-datetime",
    f"{NC}trashbin-filename",
    f"{NC}trashbin-original-location",
    f"{NC}trashbin-deletion-time",
    OC_SIZE,
)

#: ownCloud's spelling of checksum types (``SHA1:…``) to corestore's (``sha1``).
_CHECKSUM_TYPES = {"sha1": "sha1", "md5": "md5", "adler32": "adler32", "sha256": "sha256"}


@dataclass(slots=True)
class OcEntry(Entry):
    """A multistatus entry with the ownCloud/Nextcloud properties the dialect reads."""

    checksums: tuple[Checksum, ...] = ()
    oc_size: int | None = None
    meta_path: str | None = None
    trash_name: str | None = None
    trash_location: str | None = None
    trash_time: float | None = None

    @property
    def total_size(self) -> int:
        """``getcontentlength`` for files; ``oc:size`` (the tree's size) for folders."""
        return self.oc_size if self.is_dir and self.oc_size is not None else self.size


class OcMultistatusParser(MultistatusParser):
    """The webdav driver's streaming parser, also reading checksums, ``oc:size`` and trash data."""

    def _entry(self, element: Element) -> OcEntry:
        base = super()._entry(element)
        entry = OcEntry(**{f.name: getattr(base, f.name) for f in fields(Entry)})
        for propstat in element.iter(f"{DAV}propstat"):
            status = propstat.findtext(f"{DAV}status") or "HTTP/1.1 200 OK"
            prop = propstat.find(f"{DAV}prop")
            if prop is None or " 200 " not in f"{status} ":
                continue
            for child in prop:
                _apply(entry, child)
        return entry


def _apply(entry: OcEntry, prop: Element) -> None:
    text = (prop.text or "").strip()
    tag = prop.tag
    if tag == OC_CHECKSUMS:
        entry.checksums = tuple(parse_checksums(" ".join(c.text or "" for c in prop)))
    elif tag == OC_SIZE and text.isdigit():
        entry.oc_size = int(text)
    elif tag == META_PATH and text:
        entry.meta_path = text
    elif tag in (f"{OC}trashbin-original-filename", f"{NC}trashbin-filename") and text:
        entry.trash_name = text
    elif tag in (f"{OC}trashbin-original-location", f"{NC}trashbin-original-location") and text:
        entry.trash_location = text
    elif tag in (f"{OC}trashbin-delete-timestamp", f"{NC}trashbin-deletion-time") and text:
        try:
            entry.trash_time = float(text)
        except ValueError:
            pass
    elif tag == f"{OC}trashbin-delete-datetime" and text and entry.trash_time is None:
        try:
            entry.trash_time = parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError):
            pass


def parse_checksums(text: str) -> Iterator[Checksum]:
    """``"SHA1:ab12 MD5:cd34 ADLER32:0a1b"`` (ownCloud's ``oc:checksum``) as checksums."""
    for token in text.split():
        kind, _, value = token.partition(":")
        known = _CHECKSUM_TYPES.get(kind.lower())
        if known and value:
            yield Checksum(known, value.lower())


def parse_multistatus(content: bytes, base_path: str) -> list[OcEntry]:
    """A whole (small) multistatus answer: used for versions and trash listings and tests."""
    parser = OcMultistatusParser(base_path)
    return [*parser.feed(content), *parser.close()]  # type: ignore[list-item]


def pick_checksum(checksums: Sequence[Checksum], preferred: str) -> Checksum | None:
    """The checksum of the preferred type, else the first the server has."""
    for checksum in checksums:
        if checksum.type == preferred:
            return checksum
    return checksums[0] if checksums else None


# -- OCS capabilities and status.php ------------------------------------------------------------


@dataclass(frozen=True)
class Capabilities:
    """What the server's OCS capabilities say about the features this driver maps."""

    versioning: bool = False
    undelete: bool = False
    checksum_types: tuple[str, ...] = ()
    product: str = ""
    version: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def parse_capabilities(content: bytes) -> Capabilities:
    """The JSON of ``/ocs/v1.php/cloud/capabilities?format=json`` (ownCloud and Nextcloud)."""
    try:
        document = json.loads(content)
        data = document["ocs"]["data"]
    except (ValueError, KeyError, TypeError):
        return Capabilities()
    caps = data.get("capabilities") or {}
    files = caps.get("files") or {}
    checksums = caps.get("checksums") or {}
    version = data.get("version") or {}
    product = version.get("product") or (caps.get("theming") or {}).get("name") or ""
    return Capabilities(
        versioning=bool(files.get("versioning")),
        undelete=bool(files.get("undelete")),
        checksum_types=tuple(str(t).lower() for t in checksums.get("supportedTypes") or ()),
        product=str(product),
        version=str(version.get("string") or ""),
        raw=caps,
    )


def product_of_status(content: bytes) -> str:
    """``productname`` of ``status.php`` ("ownCloud", "Nextcloud"), or "" if unreadable."""
    try:
        return str(json.loads(content).get("productname") or "")
    except (ValueError, AttributeError):
        return ""
