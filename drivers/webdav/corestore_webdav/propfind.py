"""PROPFIND bodies and an incremental multistatus parser.

The parser is fed the response body chunk by chunk and hands out one :class:`Entry` per
``<d:response>`` as soon as it has been read, then drops the element, so listing a folder with a
million children holds one entry at a time, not the whole XML document.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, ParseError, XMLPullParser
from xml.sax.saxutils import escape

from corestore.errors import CorestoreError, Unavailable

__all__ = [
    "CORESTORE_NS",
    "ETAG_PROP",
    "QUOTA_PROPS",
    "ID_PROP",
    "LOCK_PROP",
    "META_NS",
    "OC_FILEID",
    "Entry",
    "MultistatusParser",
    "TruncatedListing",
    "meta_key_of",
    "meta_tag",
    "propfind_body",
    "proppatch_body",
]

DAV = "{DAV:}"
CORESTORE_NS = "urn:x-corestore"
#: Dead property holding the uuid of a resource (id scheme ``property``).
ID_PROP = f"{{{CORESTORE_NS}}}id"
#: Dead property holding a folder's etag, renewed by the driver whenever something below changes.
ETAG_PROP = f"{{{CORESTORE_NS}}}etag"
#: Dead property holding a CS3 lock as JSON (see :mod:`corestore_webdav.lockprop`).
LOCK_PROP = f"{{{CORESTORE_NS}}}lock"
#: ownCloud/Nextcloud's stable file id (id scheme ``fileid``).
OC_FILEID = "{http://owncloud.org/ns}fileid"
#: Namespace of arbitrary metadata; the key is hex-encoded into the element name because keys
#: may hold characters an XML name cannot (spaces, ``:``, leading digits).
META_NS = "urn:x-corestore:meta"

QUOTA_PROPS = ("{DAV:}quota-used-bytes", "{DAV:}quota-available-bytes")
_BASE_PROPS = ("resourcetype", "getcontentlength", "getlastmodified", "getetag", "getcontenttype")


def meta_tag(key: str) -> str:
    return f"{{{META_NS}}}k{key.encode().hex()}"


def meta_key_of(tag: str) -> str | None:
    prefix = f"{{{META_NS}}}k"
    if not tag.startswith(prefix):
        return None
    try:
        return bytes.fromhex(tag[len(prefix) :]).decode()
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None


def _qname(tag: str) -> tuple[str, str]:
    ns, _, local = tag[1:].partition("}")
    return ns, local


def propfind_body(extra: Sequence[str] = (), *, allprop: bool = False) -> bytes:
    """A PROPFIND body asking for the base properties plus ``extra`` (Clark-notation tags).

    ``allprop`` asks for everything the server has, dead properties included (for ``"*"``).
    """
    head = '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"'
    if allprop:
        return f"{head}><d:allprop/></d:propfind>".encode()
    parts = [f"<d:{name}/>" for name in _BASE_PROPS]
    namespaces: dict[str, str] = {}
    for tag in extra:
        ns, local = _qname(tag)
        prefix = namespaces.setdefault(ns, f"n{len(namespaces)}")
        parts.append(f"<{prefix}:{local}/>")
    xmlns = "".join(f' xmlns:{p}="{escape(ns)}"' for ns, p in namespaces.items())
    return f"{head}{xmlns}><d:prop>{''.join(parts)}</d:prop></d:propfind>".encode()


def proppatch_body(set_props: dict[str, str], remove: Sequence[str] = ()) -> bytes:
    """A PROPPATCH body setting text properties and removing others (Clark-notation tags)."""
    namespaces: dict[str, str] = {}

    def name(tag: str) -> str:
        ns, local = _qname(tag)
        return f"{namespaces.setdefault(ns, f'n{len(namespaces)}')}:{local}"

    sets = "".join(f"<{name(t)}>{escape(v)}</{name(t)}>" for t, v in set_props.items())
    removes = "".join(f"<{name(t)}/>" for t in remove)
    xmlns = "".join(f' xmlns:{p}="{escape(ns)}"' for ns, p in namespaces.items())
    body = '<?xml version="1.0" encoding="utf-8"?>'
    body += f'<d:propertyupdate xmlns:d="DAV:"{xmlns}>'
    if sets:
        body += f"<d:set><d:prop>{sets}</d:prop></d:set>"
    if removes:
        body += f"<d:remove><d:prop>{removes}</d:prop></d:remove>"
    return (body + "</d:propertyupdate>").encode()


class TruncatedListing(Unavailable):
    """The server ended its multistatus early and appended an error (rclone does this when a
    child vanishes while it walks the folder): entries may be missing, so the answer is void."""

    default_message = "the WebDAV server returned a truncated listing"


@dataclass(slots=True)
class Entry:
    """One ``<d:response>``: a resource's location and the properties the server returned."""

    segments: tuple[str, ...]
    status: int | None = None  # a response-level status (errors in multistatus answers)
    is_dir: bool = False
    size: int = 0
    mtime: float = 0.0
    etag: str | None = None
    content_type: str | None = None
    fileid: str | None = None
    dead_id: str | None = None
    dead_etag: str | None = None
    dead_lock: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    quota_used: int | None = None
    quota_available: int | None = None
    failed_props: set[str] = field(default_factory=set)


class MultistatusParser:
    """Feed multistatus XML in pieces; iterate the completed entries after each :meth:`feed`.

    :param base_path: the decoded path of the mount's base URL, stripped from every href.
    """

    def __init__(self, base_path: str) -> None:
        self._base = base_path.rstrip("/")
        self._parser = XMLPullParser(events=("start", "end"))
        self._root: Element | None = None
        self._finished = False

    def feed(self, data: bytes) -> Iterator[Entry]:
        try:
            self._parser.feed(data)
        except ParseError as exc:
            raise self._failure(exc) from exc
        yield from self._drain()

    def close(self) -> Iterator[Entry]:
        try:
            self._parser.close()
        except ParseError as exc:
            raise self._failure(exc) from exc
        yield from self._drain()

    def _failure(self, exc: ParseError) -> CorestoreError:
        if self._finished:
            return TruncatedListing()
        return CorestoreError(f"the WebDAV server sent malformed XML ({exc})")

    def _drain(self) -> Iterator[Entry]:
        events = self._parser.read_events()
        while True:
            try:  # the pull parser reports syntax errors here, after the good events
                event, element = next(events)
            except StopIteration:
                return
            except ParseError as exc:
                raise self._failure(exc) from exc
            if event == "start":
                if self._root is None:
                    self._root = element
                continue
            if element is self._root:
                self._finished = True
            if element.tag == f"{DAV}response":
                yield self._entry(element)
                if self._root is not None:
                    self._root.remove(element)  # keep memory flat on long listings

    def _entry(self, element: Element) -> Entry:
        href = element.findtext(f"{DAV}href") or ""
        path = unquote(urlsplit(href).path)
        if path.startswith(self._base):
            path = path[len(self._base) :]
        entry = Entry(segments=tuple(s for s in path.split("/") if s))
        status_line = element.findtext(f"{DAV}status")
        if status_line:
            entry.status = _status_code(status_line)
        for propstat in element.iter(f"{DAV}propstat"):
            ok = _status_code(propstat.findtext(f"{DAV}status") or "HTTP/1.1 200 OK") == 200
            prop = propstat.find(f"{DAV}prop")
            if prop is None:
                continue
            for child in prop:
                if ok:
                    _apply(entry, child)
                else:
                    entry.failed_props.add(child.tag)
        return entry


def _status_code(line: str) -> int:
    parts = line.split()
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return 0


def _apply(entry: Entry, prop: Element) -> None:
    text = (prop.text or "").strip()
    tag = prop.tag
    if tag == f"{DAV}resourcetype":
        entry.is_dir = prop.find(f"{DAV}collection") is not None
    elif tag == f"{DAV}getcontentlength" and text:
        entry.size = int(text)
    elif tag == f"{DAV}getlastmodified" and text:
        try:
            entry.mtime = parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError):
            pass
    elif tag == f"{DAV}getetag" and text:
        entry.etag = text
    elif tag == f"{DAV}getcontenttype" and text:
        entry.content_type = text
    elif tag == f"{DAV}quota-used-bytes" and text.isdigit():
        entry.quota_used = int(text)
    elif tag == f"{DAV}quota-available-bytes" and text.lstrip("-").isdigit():
        entry.quota_available = int(text)
    elif tag == OC_FILEID and text:
        entry.fileid = text
    elif tag == ID_PROP and text:
        entry.dead_id = text
    elif tag == ETAG_PROP and text:
        entry.dead_etag = text
    elif tag == LOCK_PROP and text:
        entry.dead_lock = text
    else:
        key = meta_key_of(tag)
        if key is not None:
            entry.metadata[key] = prop.text or ""
