"""The ``[ocm]`` table of the server configuration."""

from __future__ import annotations

from dataclasses import dataclass

from corestore.config import option
from corestore.errors import ConfigError

__all__ = ["OcmOptions"]


@dataclass(frozen=True)
class OcmOptions:
    enabled: bool = option(False, doc="serve the OCM API, WebDAV for shares and the /ocm mount")
    provider: str = option("corestore", doc="friendly provider name put in discovery")
    domain: str = option(
        "", doc="this site's OCM domain (host[:port]) used in addresses (default: from public_url)"
    )
    endpoint: str = option(
        "", doc="public base URL of this site's HTTP listener (default: the server's public_url)"
    )
    signatures_required: bool = option(
        False, doc="reject unsigned OCM requests (advertises the must-use-http-sig criterion)"
    )
    allowlist: list[str] = option([], doc="peer domains allowed to talk to us (empty: any peer)")
    must_invite: bool = option(True, doc="accept shares only from contacts made through an invite")
    key_file: str = option(
        "", doc="PEM ed25519 private key for signing (default: <root>/ocm/signing-key.pem, created)"
    )
    invite_ttl: int = option(86400, doc="lifetime of invite tokens, seconds")
    token_ttl: int = option(300, doc="lifetime of access tokens from the token endpoint, seconds")
    signature_window: int = option(
        300, doc="how old (or how far in the future) a signature's 'created' may be, seconds"
    )
    allow_http: bool = option(
        False, doc="fall back to plain http for peers (test setups only; https is tried first)"
    )
    mount_path: str = option(
        "/ocm", doc="where received shares appear: <mount_path>/<user>/<share>"
    )
    timeout: float = option(30.0, doc="seconds to wait for a peer")

    def __post_init__(self) -> None:
        if self.invite_ttl <= 0 or self.token_ttl <= 0 or self.signature_window <= 0:
            raise ConfigError("ocm: invite_ttl, token_ttl and signature_window must be positive")
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"ocm.endpoint: expected an http(s) URL, got {self.endpoint!r}")
