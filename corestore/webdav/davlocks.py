"""WebDAV locks on top of the driver lock capability, and the ``If`` header.

A WebDAV lock is stored as a driver :class:`~corestore.resources.Lock` whose ``lock_id`` is the
``opaquelocktoken:`` URI. What WebDAV needs beyond CS3 (the depth and the client's ``DAV:owner``
XML) rides in ``app_name`` as ``webdav <json>``, so a CS3 client sees an ordinary lock held by the
"webdav" app. Shared locks: the driver keeps one lock per resource, so several shared WebDAV locks
are one driver lock whose ``lock_id`` is their tokens joined by spaces; the front end maps a
presented token to that stored id before calling the driver.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

from corestore.errors import InvalidArgument
from corestore.resources import Lock, LockType
from corestore.webdav.xmlbody import dav, element

__all__ = ["APP", "Condition", "DavLock", "IfList", "parse_if", "parse_timeout"]

APP = "webdav"
MAX_TIMEOUT = 7 * 86400
DEFAULT_TIMEOUT = 3600


@dataclass(frozen=True)
class DavLock:
    """A WebDAV view of a stored lock."""

    lock: Lock
    depth: str = "infinity"  # "0" or "infinity"
    owner: str = ""  # the client's DAV:owner content, serialised XML

    @property
    def tokens(self) -> list[str]:
        return self.lock.lock_id.split()

    @property
    def shared(self) -> bool:
        return self.lock.type is LockType.SHARED

    @classmethod
    def from_lock(cls, lock: Lock) -> DavLock:
        depth, owner = "0", ""
        if lock.app_name and lock.app_name.startswith(APP + " "):
            try:
                extra = json.loads(lock.app_name[len(APP) + 1 :])
                depth, owner = str(extra.get("depth", "0")), str(extra.get("owner", ""))
            except (ValueError, AttributeError):
                pass
        return cls(lock, depth, owner)

    @staticmethod
    def app_name(depth: str, owner: str) -> str:
        return f"{APP} " + json.dumps({"depth": depth, "owner": owner}, separators=(",", ":"))

    def activelocks(self, root_href: str) -> list[ET.Element]:
        """One ``DAV:activelock`` per token (a shared driver lock holds several)."""
        scope = "shared" if self.shared else "exclusive"
        if self.lock.expiration is None:
            timeout = "Infinite"
        else:
            timeout = f"Second-{max(0, int(self.lock.expiration - time.time()))}"
        out = []
        for token in self.tokens:
            node = element(
                dav("activelock"),
                children=[
                    element(dav("locktype"), children=[element(dav("write"))]),
                    element(dav("lockscope"), children=[element(dav(scope))]),
                    element(dav("depth"), "infinity" if self.depth == "infinity" else "0"),
                    element(dav("timeout"), timeout),
                    element(dav("locktoken"), children=[element(dav("href"), token)]),
                    element(dav("lockroot"), children=[element(dav("href"), root_href)]),
                ],
            )
            if self.owner:
                node.insert(4, owner_element(self.owner))
            out.append(node)
        return out


def owner_element(stored: str) -> ET.Element:
    """A ``DAV:owner`` element from the stored content (see :func:`owner_xml`)."""
    node = element(dav("owner"))
    try:
        parsed = ET.fromstring(f"<o>{stored}</o>")
    except ET.ParseError:
        node.text = stored
        return node
    node.text = parsed.text
    node.extend(list(parsed))
    return node


def owner_xml(owner: ET.Element | None) -> str:
    """The content of a ``DAV:owner`` element as an XML fragment (escaped text, then elements)."""
    if owner is None:
        return ""
    return escape(owner.text or "") + "".join(ET.tostring(c, encoding="unicode") for c in owner)


def parse_timeout(header: str | None) -> float | None:
    """The expiration a ``Timeout`` header asks for, capped; ``None`` for ``Infinite``."""
    seconds = DEFAULT_TIMEOUT
    for item in (header or "").split(","):
        item = item.strip()
        if item.lower() == "infinite":
            return None
        if item.lower().startswith("second-") and item[7:].isdigit():
            seconds = min(int(item[7:]), MAX_TIMEOUT)
            break
    return time.time() + seconds


# -- the If header (RFC 4918 section 10.4) ------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    negate: bool
    token: str | None = None  # a state token (lock token or other URI)
    etag: str | None = None  # an entity tag, without quotes


@dataclass(frozen=True)
class IfList:
    resource: str | None  # the tagged URL, or None for the request URL
    conditions: tuple[Condition, ...]


_TOKEN = re.compile(r"\s*(?:<([^>]*)>|\((.*?)\))", re.S)
_CONDITION = re.compile(r'\s*(Not\s+)?(?:<([^>]*)>|\[(W/)?"?([^\]"]*)"?\])', re.S | re.I)


def parse_if(header: str) -> list[IfList]:
    """Parse an ``If`` header into its lists. :raises InvalidArgument: it is malformed."""
    lists: list[IfList] = []
    resource: str | None = None
    pos = 0
    header = header.strip()
    while pos < len(header):
        match = _TOKEN.match(header, pos)
        if not match:
            raise InvalidArgument("malformed If header")
        pos = match.end()
        if match.group(1) is not None:
            resource = match.group(1)
            continue
        body, conditions, cpos = match.group(2), [], 0
        while body[cpos:].strip():
            cond = _CONDITION.match(body, cpos)
            if not cond:
                raise InvalidArgument("malformed If header condition")
            cpos = cond.end()
            negate = bool(cond.group(1))
            if cond.group(2) is not None:
                conditions.append(Condition(negate, token=cond.group(2)))
            else:
                conditions.append(Condition(negate, etag=cond.group(4)))
        if not conditions:
            raise InvalidArgument("empty list in If header")
        lists.append(IfList(resource, tuple(conditions)))
        while pos < len(header) and header[pos].isspace():
            pos += 1
    return lists
