"""Talking to other OCM sites: discovery, their keys, and signed POSTs.

Every request we send is signed (RFC 9421, ed25519): a peer that does not check signatures
ignores the headers, one that does needs them. Discovery answers are cached briefly so a burst of
shares to one site costs one discovery.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from corestore.errors import InvalidArgument, Unavailable
from corestore.ocm.address import normalize_host
from corestore.ocm.config import OcmOptions
from corestore.ocm.signatures import PeerKeys, SigningKey

__all__ = ["Peer", "PeerClient", "PeerResponse"]

log = logging.getLogger("corestore.ocm")

DISCOVERY_TTL = 300.0
_LIMIT = 1 << 20  # bytes read from any peer answer


@dataclass(frozen=True)
class Peer:
    domain: str
    base: str  # scheme://host[:port] that answered discovery
    discovery: dict[str, Any]

    @property
    def endpoint(self) -> str:
        return str(self.discovery.get("endPoint", "")).rstrip("/")


@dataclass(frozen=True)
class PeerResponse:
    status: int
    body: Any


class PeerClient:
    def __init__(
        self, options: OcmOptions, key: SigningKey, user_agent: str = "corestore-ocm"
    ) -> None:
        self.options = options
        self.key = key
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._peers: dict[str, tuple[float, Peer]] = {}
        self._keys: dict[str, tuple[float, PeerKeys]] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.options.timeout),
                headers={"User-Agent": self.user_agent},
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def forget(self, domain: str) -> None:
        self._peers.pop(domain, None)
        self._keys.pop(domain, None)

    async def _get_json(self, url: str) -> Any:
        async with self.session.get(url, allow_redirects=True) as response:
            if response.status != 200:
                raise Unavailable(f"{url} answered {response.status}")
            raw = await response.content.read(_LIMIT + 1)
            if len(raw) > _LIMIT:
                raise Unavailable(f"{url} sent an oversized answer")
            try:
                return json.loads(raw)
            except ValueError:
                raise Unavailable(f"{url} did not answer JSON") from None

    async def discover(self, domain: str) -> Peer:
        """The peer's discovery document (``/.well-known/ocm``, then legacy ``/ocm-provider``)."""
        domain = normalize_host(domain)
        cached = self._peers.get(domain)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        schemes = ("https", "http") if self.options.allow_http else ("https",)
        errors = []
        for scheme in schemes:
            for path in ("/.well-known/ocm", "/ocm-provider"):
                url = f"{scheme}://{domain}{path}"
                try:
                    doc = await self._get_json(url)
                except (aiohttp.ClientError, TimeoutError, Unavailable) as exc:
                    errors.append(f"{url}: {exc}")
                    if not isinstance(exc, Unavailable):
                        break  # the scheme does not even connect: skip its other path
                    continue
                if (
                    not isinstance(doc, dict)
                    or not doc.get("enabled")
                    or not isinstance(doc.get("endPoint"), str)
                ):
                    errors.append(f"{url}: not an enabled OCM discovery document")
                    continue
                peer = Peer(domain, f"{scheme}://{domain}", doc)
                self._peers[domain] = (time.monotonic() + DISCOVERY_TTL, peer)
                return peer
        log.info("OCM discovery of %s failed: %s", domain, "; ".join(errors))
        raise Unavailable(f"OCM discovery of {domain} failed")

    async def keys(self, domain: str) -> PeerKeys:
        """The peer's keys: its JWKS (``jwksUri``, else ``/.well-known/jwks.json``), legacy PEMs."""
        cached = self._keys.get(domain)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        peer = await self.discover(domain)
        jwks = None
        uri = peer.discovery.get("jwksUri")
        if not isinstance(uri, str) or normalize_host(uri) != domain:
            uri = f"{peer.base}/.well-known/jwks.json"  # never fetch keys from another host
        try:
            jwks = await self._get_json(uri)
        except (aiohttp.ClientError, TimeoutError, Unavailable):
            jwks = None
        keys = PeerKeys.from_documents(jwks if isinstance(jwks, dict) else None, peer.discovery)
        self._keys[domain] = (time.monotonic() + DISCOVERY_TTL, keys)
        return keys

    async def post(
        self, url: str, payload: Any = None, *, form: dict[str, str] | None = None
    ) -> PeerResponse:
        """A signed POST of JSON (or a form); the answer's status and parsed body."""
        if form is not None:
            from urllib.parse import urlencode

            body = urlencode(form).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(payload).encode()
            content_type = "application/json"
        headers = {
            "Content-Type": content_type,
            "Accept": "application/json",
            **self.key.sign("POST", url, body),
        }
        try:
            async with self.session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                raw = await response.content.read(_LIMIT)
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = raw.decode(errors="replace")
                return PeerResponse(response.status, parsed)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"cannot reach {url}: {exc}") from None

    @staticmethod
    def endpoint_url(peer: Peer, name: str) -> str:
        if not peer.endpoint.startswith(("http://", "https://")):
            raise InvalidArgument(f"{peer.domain} advertises no absolute OCM endPoint")
        return f"{peer.endpoint}/{name}"
