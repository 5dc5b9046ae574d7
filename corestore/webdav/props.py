"""Properties of a resource: the live ones (DAV: and the ownCloud dialect) and dead ones.

Dead properties are stored through the driver's arbitrary metadata under their Clark name
(``{namespace}name``; ``{}name`` for no namespace). A text value is stored as is; a value with
child elements as an XML fragment behind :data:`FRAGMENT`, so CS3 clients reading the metadata see
plain text for the common case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from email.utils import formatdate
from xml.sax.saxutils import escape

from corestore.resources import Permission
from corestore.service import Entry
from corestore.webdav.davlocks import DavLock
from corestore.webdav.xmlbody import NC, OC, dav, element

__all__ = [
    "ALLPROP",
    "FRAGMENT",
    "LIVE",
    "dead_key",
    "dead_value",
    "etag_of",
    "is_dead_key",
    "oc_permissions",
    "render_dead",
    "render_live",
]

FRAGMENT = "<?xml-fragment?>"


def etag_of(entry: Entry) -> str:
    return '"' + entry.info.etag.strip('"') + '"'


def file_id(entry: Entry) -> str:
    return f"{entry.storage_id}!{entry.info.id}" if entry.storage_id else entry.info.id


def oc_permissions(entry: Entry) -> str:
    """The ownCloud permission letters: R share, D delete, NV rename/move, W write, CK create."""
    perms = entry.info.permissions or frozenset()
    letters = ""
    if Permission.ADD_GRANT in perms:
        letters += "R"
    if Permission.DELETE in perms:
        letters += "D"
    if Permission.MOVE in perms:
        letters += "NV"
    if entry.info.is_container:
        if Permission.INITIATE_FILE_UPLOAD in perms:
            letters += "C"
        if Permission.CREATE_CONTAINER in perms:
            letters += "K"
    elif Permission.INITIATE_FILE_UPLOAD in perms:
        letters += "W"
    return letters


def _checksums(entry: Entry) -> ET.Element | None:
    checksum = entry.info.checksum
    if checksum is None or entry.info.is_container:
        return None
    return element(
        f"{{{OC}}}checksums",
        children=[
            element(f"{{{OC}}}checksum", f"{checksum.type.upper()}:{checksum.value}"),
        ],
    )


Renderer = Callable[[Entry, str], "ET.Element | str | None"]


def _resourcetype(entry: Entry, href: str) -> ET.Element:
    node = element(dav("resourcetype"))
    if entry.info.is_container:
        node.append(element(dav("collection")))
    return node


def _supportedlock(entry: Entry, href: str) -> ET.Element:
    node = element(dav("supportedlock"))
    for scope in ("exclusive", "shared"):
        node.append(
            element(
                dav("lockentry"),
                children=[
                    element(dav("lockscope"), children=[element(dav(scope))]),
                    element(dav("locktype"), children=[element(dav("write"))]),
                ],
            )
        )
    return node


def _lockdiscovery(entry: Entry, href: str) -> ET.Element:
    node = element(dav("lockdiscovery"))
    if entry.info.lock is not None:
        node.extend(DavLock.from_lock(entry.info.lock).activelocks(href))
    return node


#: Live properties: Clark name -> renderer (an element, its text, or ``None`` when it has none).
LIVE: dict[str, Renderer] = {
    dav("resourcetype"): _resourcetype,
    dav("getetag"): lambda e, h: etag_of(e),
    dav("getlastmodified"): lambda e, h: formatdate(e.info.mtime, usegmt=True),
    dav("getcontentlength"): lambda e, h: None if e.info.is_container else str(e.info.size),
    dav("getcontenttype"): lambda e, h: e.info.mime_type or None,
    dav("displayname"): lambda e, h: e.info.name,
    dav("supportedlock"): _supportedlock,
    dav("lockdiscovery"): _lockdiscovery,
    f"{{{OC}}}id": lambda e, h: file_id(e),
    f"{{{OC}}}fileid": lambda e, h: file_id(e),
    f"{{{OC}}}permissions": lambda e, h: oc_permissions(e),
    f"{{{OC}}}size": lambda e, h: str(e.info.size),
    f"{{{OC}}}checksums": lambda e, h: _checksums(e),
    f"{{{OC}}}owner-id": lambda e, h: e.info.owner,
    f"{{{NC}}}has-preview": lambda e, h: "false",
}

#: What ``allprop`` returns: the DAV: live properties (RFC 4918 leaves the dialect to ``prop``).
ALLPROP = [name for name in LIVE if name.startswith("{DAV:}")]


def render_live(name: str, entry: Entry, href: str) -> ET.Element | None:
    value = LIVE[name](entry, href)
    if value is None:
        return None
    if isinstance(value, ET.Element):
        return value
    return element(name, value)


def dead_key(tag: str) -> str:
    """The metadata key of a property element's tag (ElementTree drops ``{}`` for no namespace)."""
    return tag if tag.startswith("{") else "{}" + tag


def is_dead_key(key: str) -> bool:
    return key.startswith("{") and "}" in key


def dead_value(prop: ET.Element) -> str:
    if len(prop) == 0:
        return prop.text or ""
    return (
        FRAGMENT
        + escape(prop.text or "")
        + "".join(ET.tostring(c, encoding="unicode") for c in prop)
    )


def render_dead(key: str, value: str) -> ET.Element:
    node = element(key[2:] if key.startswith("{}") else key)
    if value.startswith(FRAGMENT):
        try:
            parsed = ET.fromstring(f"<v>{value[len(FRAGMENT) :]}</v>")
            node.text = parsed.text
            node.extend(list(parsed))
            return node
        except ET.ParseError:
            pass
    node.text = value
    return node


def dead_props(metadata: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    return ((k, v) for k, v in metadata.items() if is_dead_key(k))
