"""Bad input gets the spec's status code and error body, never a 500."""

from __future__ import annotations

import pytest


def share(peer, site, **override):  # noqa: ANN001, ANN003, ANN201
    payload = {
        "shareWith": f"marie@{site.domain}",
        "name": "data",
        "providerId": "p-1",
        "owner": f"alice@{peer.domain}",
        "sender": f"alice@{peer.domain}",
        "shareType": "user",
        "resourceType": "folder",
        "protocol": {
            "name": "multi",
            "webdav": {
                "uri": f"http://{peer.domain}/dav/p-1",
                "sharedSecret": "s3cret",
                "permissions": ["read"],
            },
        },
    }
    payload.update(override)
    return {k: v for k, v in payload.items() if v is not None}


def test_malformed_json(site_a, peer) -> None:  # noqa: ANN001
    for path in ("shares", "notifications", "invite-accepted"):
        for body in (b"{", b"[1, 2]", b"\xff\xfe", b""):
            status, answer = peer.raw(
                f"{site_a.http}/ocm/{path}", body, {"Content-Type": "application/json"}
            )
            assert status == 400, (path, body, answer)
            assert answer["message"] and isinstance(answer["validationErrors"], list)


@pytest.mark.parametrize(
    "missing",
    ["shareWith", "name", "providerId", "owner", "sender", "shareType", "resourceType", "protocol"],
)
def test_missing_required_fields(site_a, peer, missing) -> None:  # noqa: ANN001
    status, answer, _ = peer.post(
        f"{site_a.http}/ocm/shares", share(peer, site_a, **{missing: None})
    )
    assert status == 400
    assert missing in [e["name"] for e in answer["validationErrors"]]


def test_unknown_protocol_and_types(site_a, peer) -> None:  # noqa: ANN001
    status, answer, _ = peer.post(
        f"{site_a.http}/ocm/shares",
        share(peer, site_a, protocol={"name": "multi", "ssh": {"uri": "x"}}),
    )
    assert status == 501, answer
    status, _, _ = peer.post(f"{site_a.http}/ocm/shares", share(peer, site_a, shareType="group"))
    assert status == 501
    status, _, _ = peer.post(
        f"{site_a.http}/ocm/shares", share(peer, site_a, resourceType="calendar")
    )
    assert status == 501
    status, answer, _ = peer.post(
        f"{site_a.http}/ocm/notifications",
        {"notificationType": "SOMETHING_NEW", "resourceType": "file", "providerId": "x"},
    )
    assert status == 501
    status, answer, _ = peer.post(
        f"{site_a.http}/ocm/shares",
        share(
            peer,
            site_a,
            protocol={
                "name": "multi",
                "webdav": {"uri": "x", "sharedSecret": "s", "requirements": ["must-fly"]},
            },
        ),
    )
    assert status == 400 and "requirements" in answer["message"]


def test_unknown_recipient(site_a, peer) -> None:  # noqa: ANN001
    status, answer, _ = peer.post(
        f"{site_a.http}/ocm/shares", share(peer, site_a, shareWith=f"nobody@{site_a.domain}")
    )
    assert status == 400
    assert [e["name"] for e in answer["validationErrors"]] == ["shareWith"]
    status, answer, _ = peer.post(
        f"{site_a.http}/ocm/shares", share(peer, site_a, shareWith="marie@elsewhere.org")
    )
    assert status == 400


def test_must_invite(site_a, peer) -> None:  # noqa: ANN001
    """A valid, signed share from an allowed peer that is not a contact of the recipient: 403."""
    status, answer, _ = peer.post(f"{site_a.http}/ocm/shares", share(peer, site_a))
    assert status == 403 and "contact" in answer["message"]


def test_legacy_forms_are_accepted(site_a, peer) -> None:  # noqa: ANN001
    """OCM 1.0 options, url for uri, expiration 0, schemes in addresses: all parsed (then 403)."""
    legacy = share(
        peer,
        site_a,
        expiration=0,
        owner=f"alice@http://{peer.domain}",
        protocol={"name": "webdav", "options": {"sharedSecret": "s"}},
    )
    status, answer, _ = peer.post(f"{site_a.http}/ocm/shares", legacy)
    assert status == 403, answer  # got past validation: the only objection is the missing invite
    oc = share(
        peer,
        site_a,
        protocol={
            "name": "multi",
            "webdav": {
                "url": f"http://{peer.domain}/dav/x",
                "sharedSecret": "s",
                "permissions": ["read"],
            },
        },
    )
    status, answer, _ = peer.post(f"{site_a.http}/ocm/shares", oc)
    assert status == 403, answer


def test_token_endpoint_errors(site_a, peer) -> None:  # noqa: ANN001
    url = site_a.discovery()["tokenEndPoint"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, answer = peer.raw(url, b"grant_type=password", form)
    assert (status, answer["error"]) == (400, "unsupported_grant_type")
    status, answer = peer.raw(url, b"grant_type=authorization_code", form)
    assert (status, answer["error"]) == (400, "invalid_request")
    from corestore.ocm.signatures import SigningKey  # noqa: F401

    body = f"grant_type=authorization_code&client_id={peer.domain}&code=wrong".encode()
    headers = {**form, **peer.key.sign("POST", url, body)}
    status, answer = peer.raw(url, body, headers)
    assert (status, answer["error"]) == (400, "invalid_grant")
