"""Trust: forged, unsigned and replayed requests are refused when signatures are required; a peer
outside the allowlist is refused; draft-cavage signatures of older peers verify. The sharer's
data and state stay untouched."""

from __future__ import annotations

import json


def invite_accepted(peer, site, token: str = "no-such-token") -> dict:  # noqa: ANN001
    return {
        "recipientProvider": peer.domain,
        "token": token,
        "userID": "alice",
        "email": "alice@peer",
        "name": "Alice",
    }


def test_unsigned_rejected(site_a, peer) -> None:  # noqa: ANN001
    status, answer, _ = peer.post(
        f"{site_a.http}/ocm/invite-accepted", invite_accepted(peer, site_a), sign="none"
    )
    assert status == 401 and "signed" in answer["message"]


def test_valid_signature_reaches_the_logic(site_a, peer) -> None:  # noqa: ANN001
    status, answer, _ = peer.post(
        f"{site_a.http}/ocm/invite-accepted", invite_accepted(peer, site_a)
    )
    assert (
        status == 400 and "unknown invite token" in answer["message"]
    )  # authenticated; the token is bad


def test_forged_signatures_rejected(site_a, peer) -> None:  # noqa: ANN001
    url = f"{site_a.http}/ocm/invite-accepted"
    payload = invite_accepted(peer, site_a)
    body = json.dumps(payload).encode()
    good = peer.key.sign("POST", url, body)
    # body changed after signing (digest mismatch)
    tampered = body.replace(b'"alice"', b'"evil!"')  # same length: Content-Length still matches
    status, answer = peer.raw(url, tampered, {"Content-Type": "application/json", **good})
    assert status == 401, answer
    # digest recomputed but signature not (the signature no longer verifies)
    from corestore.ocm.signatures import content_digest

    status, answer = peer.raw(
        url,
        tampered,
        {
            "Content-Type": "application/json",
            **good,
            "Content-Digest": content_digest(tampered),
            "Content-Length": str(len(tampered)),
        },
    )
    assert status == 401, answer
    # signed by another key under the peer's key id
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from corestore.ocm.signatures import SigningKey

    other = SigningKey(ed25519.Ed25519PrivateKey.generate())
    forged = other.sign("POST", url, body)
    forged["Signature-Input"] = forged["Signature-Input"].replace(other.kid, peer.key.kid)
    status, answer = peer.raw(url, body, {"Content-Type": "application/json", **forged})
    assert status == 401, answer
    # a signature made for another URL
    status, answer = peer.raw(
        url,
        body,
        {
            "Content-Type": "application/json",
            **peer.key.sign("POST", f"{site_a.http}/ocm/shares", body),
        },
    )
    assert status == 401, answer
    # stale 'created'
    import time

    status, answer = peer.raw(
        url,
        body,
        {
            "Content-Type": "application/json",
            **peer.key.sign("POST", url, body, created=int(time.time()) - 3600),
        },
    )
    assert status == 401 and "old" in answer["message"]
    # garbage headers never cause a 500
    for bad in (
        {"Signature-Input": "ocm=garbage", "Signature": "ocm=:AAAA:"},
        {"Signature-Input": 'ocm=("@method");created=1;tag="ocm"', "Signature": "nope"},
        {"Signature": 'keyId="x",signature="!!"'},
    ):
        status, _ = peer.raw(url, body, {"Content-Type": "application/json", **bad})
        assert status == 401


def test_replay_rejected(site_a, peer) -> None:  # noqa: ANN001
    status, _, sent = peer.post(f"{site_a.http}/ocm/invite-accepted", invite_accepted(peer, site_a))
    assert status == 400  # authenticated, bad token
    body = json.dumps(invite_accepted(peer, site_a)).encode()
    status, answer = peer.raw(f"{site_a.http}/ocm/invite-accepted", body, sent)
    assert status == 401 and "replay" in answer["message"]


def test_draft_cavage_verified(site_a, peer) -> None:  # noqa: ANN001
    url = f"{site_a.http}/ocm/invite-accepted"
    status, answer, _ = peer.post(url, invite_accepted(peer, site_a), sign="cavage")
    assert status == 400 and "unknown invite token" in answer["message"], answer
    # a cavage signature over a different body is refused
    body = json.dumps(invite_accepted(peer, site_a)).encode()
    headers = {"Content-Type": "application/json", **peer.cavage_headers(url, body)}
    status, _ = peer.raw(url, body.replace(b"alice", b"eve00"), headers)
    assert status == 401


def test_allowlist(site_b, launch_site, tmp_path, peer) -> None:  # noqa: ANN001
    """A site whose allowlist does not name the peer refuses it, signed or not (403)."""
    strict = launch_site(tmp_path / "strict", "strict", allowlist=[site_b.domain])
    status, answer, _ = peer.post(
        f"{strict.http}/ocm/invite-accepted", invite_accepted(peer, strict)
    )
    assert status == 403 and "allowlist" in answer["message"]
    status, _, _ = peer.post(
        f"{strict.http}/ocm/shares",
        {
            "shareWith": f"marie@{strict.domain}",
            "name": "x",
            "providerId": "1",
            "owner": f"a@{peer.domain}",
            "sender": f"a@{peer.domain}",
            "shareType": "user",
            "resourceType": "folder",
            "protocol": {
                "name": "multi",
                "webdav": {
                    "uri": f"http://{peer.domain}/x",
                    "sharedSecret": "s",
                    "permissions": ["read"],
                },
            },
        },
    )
    assert status == 403


def test_signed_outgoing_requests(site_a, site_b) -> None:  # noqa: ANN001
    """Both sites require signatures, so the whole flow (test_ocm_flow) ran on signed requests;
    here: the sharer's WebDAV never accepts the secret in the URL."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{site_a.http}/remote.php/dav/ocm/x?access_token=y", timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
