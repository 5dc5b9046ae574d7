"""XML in and out: safe parsing of request bodies and the building blocks of 207 responses.

Bodies are small (aiohttp caps them at 1 MiB) and refused outright when they carry a DTD, so no
entity can be declared, expanded or fetched; anything that is not well-formed XML, or not the
document the method expects, is an :class:`InvalidArgument` (400).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from xml.parsers import expat
from xml.sax.saxutils import escape

from corestore.errors import InvalidArgument

__all__ = [
    "DAV",
    "NC",
    "OC",
    "dav",
    "element",
    "multistatus_close",
    "multistatus_open",
    "parse_body",
    "propstat",
    "render",
    "status_line",
]

DAV = "DAV:"
OC = "http://owncloud.org/ns"
NC = "http://nextcloud.org/ns"

ET.register_namespace("d", DAV)
ET.register_namespace("oc", OC)
ET.register_namespace("nc", NC)

_REASONS = {
    200: "OK",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    423: "Locked",
    424: "Failed Dependency",
    400: "Bad Request",
    500: "Internal Server Error",
}


def dav(name: str) -> str:
    """The Clark name of a ``DAV:`` element."""
    return f"{{{DAV}}}{name}"


def status_line(code: int) -> str:
    return f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}"


def parse_body(body: bytes, root: str) -> ET.Element | None:
    """The parsed body, which must be a ``DAV:<root>`` document; ``None`` for an empty body."""
    if not body.strip():
        return None
    try:
        _refuse_dtd(body)
        doc = ET.fromstring(body)
    except (ET.ParseError, expat.ExpatError, ValueError) as exc:
        raise InvalidArgument(f"malformed XML body: {exc}") from None
    if doc.tag != dav(root):
        raise InvalidArgument(f"expected a DAV:{root} document")
    return doc


def _refuse_dtd(body: bytes) -> None:
    """A first expat pass that stops at any DTD: WebDAV bodies never need one."""

    def refuse(*_args: object) -> None:
        raise ValueError("DTDs and entity declarations are not accepted")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.Parse(body, True)


def element(tag: str, text: str | None = None, children: Iterable[ET.Element] = ()) -> ET.Element:
    node = ET.Element(tag)
    if text is not None:
        node.text = text
    node.extend(children)
    return node


def propstat(props: Iterable[ET.Element], code: int) -> ET.Element:
    return element(
        dav("propstat"),
        children=[
            element(dav("prop"), children=props),
            element(dav("status"), status_line(code)),
        ],
    )


def render(node: ET.Element) -> bytes:
    return ET.tostring(node, encoding="unicode").encode()


def multistatus_open() -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n'
        f'<d:multistatus xmlns:d="{DAV}" xmlns:oc="{OC}" xmlns:nc="{NC}">'
    ).encode()


def multistatus_close() -> bytes:
    return b"</d:multistatus>\n"


def error_body(condition: str) -> bytes:
    """An RFC 4918 ``DAV:error`` body naming a precondition (e.g. ``propfind-finite-depth``)."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="{DAV}"><d:{escape(condition)}/>'
        "</d:error>\n"
    ).encode()
