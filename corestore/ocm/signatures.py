"""HTTP Message Signatures for OCM: RFC 9421 (``tag="ocm"``, ed25519), draft-cavage (verify only).

What is signed (the OCM profile of RFC 9421): ``"@method" "@target-uri" "content-digest"
"content-length"`` with ``created``, ``keyid`` (the JWK ``kid``), ``alg="ed25519"`` and
``tag="ocm"``. The body's digest is an RFC 9530 ``Content-Digest: sha-256=:...:``.

Only the small subset of structured fields (RFC 8941) these headers use is parsed: a dictionary
of inner lists of strings with parameters, and byte sequences. Anything else is rejected.

Verification never trusts the request for *where* the key comes from: the caller passes the
peer's published keys (:class:`PeerKeys`), found through the peer's discovery document.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from corestore.errors import Unauthenticated

__all__ = [
    "COVERED",
    "PeerKeys",
    "ReplayCache",
    "SigningKey",
    "content_digest",
    "verify_request",
]

#: Components every OCM signature covers (content-digest and content-length when there is a body).
COVERED = ("@method", "@target-uri", "content-digest", "content-length")
_B64 = re.compile(r"^[A-Za-z0-9+/=]*$")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def content_digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


class SigningKey:
    """Our ed25519 key: signs outgoing requests and is published as a JWK."""

    def __init__(self, private: ed25519.Ed25519PrivateKey) -> None:
        self.private = private
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_raw = raw
        # RFC 7638 thumbprint: stable across restarts, so peers' caches stay valid.
        thumb = f'{{"crv":"Ed25519","kty":"OKP","x":"{_b64url(raw)}"}}'.encode()
        self.kid = _b64url(hashlib.sha256(thumb).digest())

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Read a PEM key, or create one (mode 0600) on first start."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ed25519.Ed25519PrivateKey):
                from corestore.errors import ConfigError

                raise ConfigError(f"ocm.key_file {path} is not an ed25519 private key")
            return cls(key)
        key = ed25519.Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_bytes(pem)
        tmp.replace(path)
        return cls(key)

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(self.public_raw),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }

    def sign(
        self, method: str, url: str, body: bytes | None, *, created: int | None = None
    ) -> dict[str, str]:
        """The headers that sign a request: Content-Digest, Signature-Input, Signature."""
        created = int(time.time()) if created is None else created
        headers: dict[str, str] = {}
        covered: list[str] = ["@method", "@target-uri"]
        if body is not None:
            headers["Content-Digest"] = content_digest(body)
            headers["Content-Length"] = str(len(body))
            covered += ["content-digest", "content-length"]
        params = (
            f"({' '.join(chr(34) + c + chr(34) for c in covered)})"
            f';created={created};nonce="{secrets.token_urlsafe(16)}";keyid="{self.kid}"'
            ';alg="ed25519";tag="ocm"'
        )
        base = _signature_base(
            covered, params, method, url, {k.lower(): v for k, v in headers.items()}
        )
        signature = base64.b64encode(self.private.sign(base.encode())).decode()
        headers["Signature-Input"] = f"ocm={params}"
        headers["Signature"] = f"ocm=:{signature}:"
        headers["Date"] = formatdate(created, usegmt=True)
        return headers


def _signature_base(
    covered: list[str], params: str, method: str, url: str, headers: Mapping[str, str]
) -> str:
    lines = []
    for name in covered:
        if name == "@method":
            value = method.upper()
        elif name == "@target-uri":
            value = url
        elif name.startswith("@"):
            raise Unauthenticated(f"unsupported derived component {name} in the signature")
        else:
            if name not in headers:
                raise Unauthenticated(
                    f"the signature covers {name}, which the request does not carry"
                )
            value = headers[name].strip()
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines)


# -- structured fields (the subset used here) ----------------------------------------------------

_PARAM = re.compile(r';\s*([a-z*][a-z0-9_.*-]*)(?:=("(?:[^"\\]|\\.)*"|-?\d+|[A-Za-z*][^;,\s]*))?')


def _split_members(text: str) -> list[str]:
    """Split a structured-field dictionary on top-level commas (not inside quotes or parens)."""
    members, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            members.append(text[start:i].strip())
            start = i + 1
    members.append(text[start:].strip())
    return [m for m in members if m]


def _parse_inputs(header: str) -> dict[str, tuple[list[str], dict[str, Any], str]]:
    """``Signature-Input`` -> ``{label: (components, params, raw params text)}``."""
    result = {}
    for member in _split_members(header):
        label, sep, value = member.partition("=")
        m = re.match(r'^\(((?:\s*"[^"]*"\s*)*)\)(.*)$', value.strip())
        if not sep or not m:
            raise Unauthenticated("malformed Signature-Input header")
        components = re.findall(r'"([^"]*)"', m.group(1))
        params: dict[str, Any] = {}
        rest = m.group(2)
        consumed = "".join(p.group(0) for p in _PARAM.finditer(rest))
        if consumed.replace(" ", "") != rest.replace(" ", ""):
            raise Unauthenticated("malformed Signature-Input parameters")
        for p in _PARAM.finditer(rest):
            raw = p.group(2)
            if raw is None:
                params[p.group(1)] = True
            elif raw.startswith('"'):
                params[p.group(1)] = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            elif re.fullmatch(r"-?\d+", raw):
                params[p.group(1)] = int(raw)
            else:
                params[p.group(1)] = raw
        result[label.strip()] = (components, params, value.strip())
    return result


def _parse_byte_dict(header: str) -> dict[str, bytes]:
    result = {}
    for member in _split_members(header):
        label, sep, value = member.partition("=")
        value = value.strip().split(";")[0]
        if (
            not sep
            or not (value.startswith(":") and value.endswith(":"))
            or not _B64.match(value[1:-1])
        ):
            raise Unauthenticated("malformed Signature or Content-Digest header")
        try:
            result[label.strip().lower()] = base64.b64decode(value[1:-1], validate=True)
        except ValueError:
            raise Unauthenticated("malformed base64 in a signature header") from None
    return result


# -- verification --------------------------------------------------------------------------------


@dataclass
class PeerKeys:
    """The keys a peer publishes: JWKs by kid (RFC 9421) and draft-cavage PEM keys by keyId."""

    jwks: dict[str, Any] = field(default_factory=dict)
    legacy: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_documents(
        cls, jwks: Mapping[str, Any] | None, discovery: Mapping[str, Any] | None
    ) -> PeerKeys:
        keys = cls()
        for jwk in (jwks or {}).get("keys", []) or []:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                try:
                    keys.jwks[jwk["kid"]] = _jwk_public_key(jwk)
                except (KeyError, ValueError, TypeError):
                    continue
        pems = []
        if discovery:
            if isinstance(discovery.get("publicKey"), dict):
                pems.append(discovery["publicKey"])
            pems += [k for k in discovery.get("publicKeys", []) or [] if isinstance(k, dict)]
        for entry in pems:
            key_id = entry.get("keyId") or entry.get("id")
            pem = entry.get("publicKeyPem")
            if isinstance(key_id, str) and isinstance(pem, str):
                try:
                    keys.legacy[key_id] = serialization.load_pem_public_key(pem.encode())
                except ValueError:
                    continue
        return keys


def _jwk_public_key(jwk: Mapping[str, Any]) -> Any:
    kty = jwk["kty"]
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(_unb64url(jwk["x"]))
    if kty == "RSA":
        n, e = (int.from_bytes(_unb64url(jwk[k]), "big") for k in ("n", "e"))
        return rsa.RSAPublicNumbers(e, n).public_key()
    if kty == "EC" and jwk.get("crv") == "P-256":
        x, y = (int.from_bytes(_unb64url(jwk[k]), "big") for k in ("x", "y"))
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    raise ValueError(f"unsupported JWK {kty}")


class ReplayCache:
    """Signatures seen within the acceptance window; a second use of one is a replay."""

    def __init__(self, window: int, limit: int = 100_000) -> None:
        self.window = window
        self.limit = limit
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def check_and_add(self, signature: bytes) -> None:
        now = time.time()
        while self._seen and (
            next(iter(self._seen.values())) < now - 2 * self.window or len(self._seen) > self.limit
        ):
            self._seen.popitem(last=False)
        digest = hashlib.sha256(signature).digest()
        if digest in self._seen:
            raise Unauthenticated("this signed request was already received (replay)")
        self._seen[digest] = now


def has_signature(headers: Mapping[str, str]) -> bool:
    return "Signature-Input" in headers or "Signature" in headers


def _check_digest(headers: Mapping[str, str], body: bytes) -> None:
    if "Content-Digest" in headers:
        digests = _parse_byte_dict(headers["Content-Digest"])
        known = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
        recognised = [(alg, value) for alg, value in digests.items() if alg in known]
        if not recognised:
            raise Unauthenticated("Content-Digest has no sha-256 or sha-512 digest")
        for alg, value in recognised:
            if known[alg](body).digest() != value:
                raise Unauthenticated("Content-Digest does not match the body")
    elif "Digest" in headers:  # draft-cavage peers (RFC 3230)
        alg, _, value = headers["Digest"].partition("=")
        if alg.strip().upper() != "SHA-256":
            raise Unauthenticated("unsupported Digest algorithm")
        if base64.b64encode(hashlib.sha256(body).digest()).decode() != value.strip():
            raise Unauthenticated("Digest does not match the body")
    elif body:
        raise Unauthenticated("a signed request with a body must carry Content-Digest")


def _verify(public: Any, signature: bytes, data: bytes, alg: str | None) -> None:
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, data)
        elif isinstance(public, rsa.RSAPublicKey):
            if alg == "rsa-pss-sha512":
                public.verify(
                    signature, data, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512()
                )
            else:
                public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise Unauthenticated("unsupported key type")
    except InvalidSignature:
        raise Unauthenticated("the request signature does not verify") from None


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: PeerKeys,
    *,
    window: int,
    replay: ReplayCache,
    path_qs: str = "",
) -> str:
    """Verify an RFC 9421 (or draft-cavage) signature; return the key id that signed.

    :raises Unauthenticated: missing, malformed, stale, replayed, forged, or a digest mismatch.
    """
    now = time.time()
    _check_digest(headers, body)
    if "Signature-Input" in headers:
        inputs = _parse_inputs(headers["Signature-Input"])
        tagged = [label for label, (_, params, _) in inputs.items() if params.get("tag") == "ocm"]
        if len(tagged) != 1:
            raise Unauthenticated('exactly one signature must carry tag="ocm"')
        label = tagged[0]
        components, params, raw = inputs[label]
        needed = ["@method", "@target-uri"] + (["content-digest", "content-length"] if body else [])
        missing = [c for c in needed if c not in components]
        if missing:
            raise Unauthenticated(f"the signature does not cover {', '.join(missing)}")
        created = params.get("created")
        if not isinstance(created, int):
            raise Unauthenticated("the signature has no created parameter")
        if abs(now - created) > window:
            raise Unauthenticated("the signature is too old or from the future")
        if isinstance(params.get("expires"), int) and params["expires"] < now:
            raise Unauthenticated("the signature has expired")
        key_id = params.get("keyid")
        if not isinstance(key_id, str) or key_id not in keys.jwks:
            raise Unauthenticated("the signature's keyid is not among the peer's published keys")
        signatures = _parse_byte_dict(headers.get("Signature", ""))
        if label.lower() not in signatures:
            raise Unauthenticated(f"no Signature for label {label}")
        lowered = {k.lower(): v for k, v in headers.items()}
        base = _signature_base(components, raw, method, url, lowered)
        _verify(keys.jwks[key_id], signatures[label.lower()], base.encode(), params.get("alg"))
        replay.check_and_add(signatures[label.lower()])
        return key_id
    return _verify_cavage(method, path_qs, headers, body, keys, window=window, replay=replay)


def _verify_cavage(
    method: str,
    path_qs: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: PeerKeys,
    *,
    window: int,
    replay: ReplayCache,
) -> str:
    raw = headers.get("Signature")
    if not raw:
        raise Unauthenticated("the request is not signed")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', raw))
    key_id, signed_headers, signature = (
        fields.get("keyId"),
        fields.get("headers", "date"),
        fields.get("signature"),
    )
    if not key_id or not signature:
        raise Unauthenticated("malformed draft-cavage Signature header")
    if key_id not in keys.legacy:
        raise Unauthenticated("the signature's keyId is not the peer's published key")
    names = signed_headers.lower().split()
    if "(request-target)" not in names or "date" not in names or (body and "digest" not in names):
        raise Unauthenticated(
            "a draft-cavage signature must cover (request-target), date and digest"
        )
    try:
        date = parsedate_to_datetime(headers.get("Date", "")).timestamp()
    except (TypeError, ValueError):
        raise Unauthenticated("the signed request has no valid Date") from None
    if abs(time.time() - date) > window:
        raise Unauthenticated("the signature is too old or from the future")
    lowered = {k.lower(): v for k, v in headers.items()}
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path_qs}")
        elif name in lowered:
            lines.append(f"{name}: {lowered[name].strip()}")
        else:
            raise Unauthenticated(f"the signature covers {name}, which the request does not carry")
    try:
        sig = base64.b64decode(signature, validate=True)
    except ValueError:
        raise Unauthenticated("malformed base64 in the signature") from None
    _verify(keys.legacy[key_id], sig, "\n".join(lines).encode(), fields.get("algorithm"))
    replay.check_and_add(sig)
    return key_id
