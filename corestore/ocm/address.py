"""OCM addresses (``identifier@host[:port]``), read leniently and always written in the newest form.

Peers in the wild send ``id@https://host``, ``id@host@host`` or hosts with a scheme (ocm.md §6);
the identifier itself may contain ``@``, so the host is what follows the *last* ``@``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from corestore.errors import InvalidArgument

__all__ = ["Address", "normalize_host", "parse_address"]

_HOST = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")


def normalize_host(value: str) -> str:
    """``https://Host:443/path`` -> ``host:443``; a bare ``host[:port]`` is lower-cased."""
    value = value.strip()
    if "://" in value:
        value = urlsplit(value).netloc
    value = value.rstrip("/").lower()
    if not value or not _HOST.match(value):
        raise InvalidArgument(f"not a valid provider host: {value!r}")
    return value


@dataclass(frozen=True)
class Address:
    identifier: str
    host: str

    def __str__(self) -> str:
        return f"{self.identifier}@{self.host}"


def parse_address(value: object, field: str = "address") -> Address:
    """Parse an OCM address; :raises InvalidArgument: not ``something@host``."""
    if not isinstance(value, str) or "@" not in value:
        raise InvalidArgument(f"{field} must be an OCM address like user@host, got {value!r}")
    identifier, _, host = value.rpartition("@")
    host = normalize_host(host)  # id@https://host: the scheme slipped into the host part
    # id@host@host (a peer that appended its domain to an already qualified id).
    while (
        identifier.endswith("@" + host)
        or identifier.lower().endswith("@https://" + host)
        or identifier.lower().endswith("@http://" + host)
    ):
        identifier = identifier.rpartition("@")[0]
    if not identifier:
        raise InvalidArgument(f"{field}: the address {value!r} has no identifier")
    return Address(identifier, host)
