"""Discovery and OCM requests and responses against spec.yaml 1.4.0, with a JSON-Schema validator.

The schemas below encode the spec's required fields and enums (cs3org/OCM-API spec.yaml @a5b5da6,
``components.schemas``). Our own additions (``jwksUri`` from the I-D's v07 text) are allowed
because the spec's Discovery object does not forbid extra properties.
"""

from __future__ import annotations

import json
import urllib.request

import jsonschema
import pytest

STR = {"type": "string"}
STRS = {"type": "array", "items": STR}

ERROR = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": STR,
        "validationErrors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "message"],
                "properties": {"name": STR, "message": STR},
            },
        },
    },
}
DISCOVERY = {
    "type": "object",
    "required": ["enabled", "apiVersion", "endPoint", "resourceTypes"],
    "properties": {
        "enabled": {"type": "boolean"},
        "apiVersion": STR,
        "endPoint": {"type": "string", "pattern": "^https?://"},
        "provider": STR,
        "resourceTypes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "shareTypes", "protocols"],
                "properties": {
                    "name": STR,
                    "shareTypes": {
                        "type": "array",
                        "contains": {"const": "user"},
                        "items": {"enum": ["user", "group", "federation"]},
                    },
                    "protocols": {
                        "type": "object",
                        "properties": {
                            "webdav": {"type": "string", "pattern": "^/"},
                            "webdav-receive": {
                                "type": "object",
                                "properties": {"uri": {"enum": ["absolute", "relative"]}},
                            },
                        },
                        "additionalProperties": {"oneOf": [STR, {"type": "object"}]},
                    },
                },
            },
        },
        "capabilities": {
            "type": "array",
            "items": {
                "enum": [
                    "enforce-mfa",
                    "exchange-token",
                    "http-sig",
                    "invites",
                    "invite-wayf",
                    "notifications",
                    "protocol-object",
                ]
            },
        },
        "criteria": {
            "type": "array",
            "items": {
                "enum": [
                    "must-use-http-sig",
                    "must-exchange-token",
                    "denylist",
                    "allowlist",
                    "must-invite",
                ]
            },
        },
        "tokenEndPoint": {"type": "string", "pattern": "^https?://"},
        "inviteAcceptDialog": STR,
    },
}
WEBDAV = {
    "type": "object",
    "required": ["uri", "sharedSecret", "permissions"],
    "properties": {
        "uri": STR,
        "sharedSecret": STR,
        "accessTypes": {"type": "array", "items": {"enum": ["remote", "datatx"]}},
        "permissions": {"type": "array", "items": {"enum": ["read", "write", "share"]}},
        "requirements": {
            "type": "array",
            "minItems": 1,
            "items": {"enum": ["must-exchange-token", "must-use-mfa"]},
        },
    },
}
NEW_SHARE = {
    "type": "object",
    "required": [
        "shareWith",
        "name",
        "providerId",
        "owner",
        "sender",
        "shareType",
        "resourceType",
        "protocol",
    ],
    "properties": {
        "shareWith": STR,
        "name": STR,
        "description": STR,
        "providerId": STR,
        "owner": STR,
        "sender": STR,
        "ownerDisplayName": STR,
        "senderDisplayName": STR,
        "shareType": {"enum": ["user", "group", "federation"]},
        "resourceType": STR,
        "expiration": {"type": "integer"},
        "protocol": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": STR, "webdav": WEBDAV},
        },
    },
}
NEW_SHARE_RESPONSE = {
    "type": "object",
    "properties": {"recipientDisplayName": STR, "recipientPublicKeys": STRS},
}
NEW_NOTIFICATION = {
    "type": "object",
    "required": ["notificationType", "resourceType", "providerId"],
    "properties": {
        "notificationType": STR,
        "resourceType": STR,
        "providerId": STR,
        "notification": {"type": "object"},
    },
}
ACCEPTED_INVITE = {
    "type": "object",
    "required": ["recipientProvider", "token", "userID", "email", "name"],
    "properties": {k: STR for k in ("recipientProvider", "token", "userID", "email", "name")},
}
ACCEPTED_INVITE_RESPONSE = {
    "type": "object",
    "required": ["userID", "email", "name"],
    "properties": {k: STR for k in ("userID", "email", "name")},
}
TOKEN_RESPONSE = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": STR,
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"},
    },
}


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        return json.load(response)


@pytest.mark.parametrize("path", ["/.well-known/ocm", "/ocm-provider", "/ocm-provider/"])
def test_discovery_conforms(site_a, path) -> None:  # noqa: ANN001
    doc = get_json(site_a.http + path)
    jsonschema.validate(doc, DISCOVERY)
    assert doc["enabled"] is True and doc["apiVersion"] == "1.4.0"
    assert doc["endPoint"] == f"{site_a.http}/ocm"
    assert doc["provider"] == "site-a"
    assert {r["name"] for r in doc["resourceTypes"]} == {"file", "folder"}
    for rt in doc["resourceTypes"]:
        assert rt["protocols"]["webdav"] == "/remote.php/dav/ocm/"
        assert rt["protocols"]["webdav-receive"] == {"uri": "absolute"}
    assert set(doc["capabilities"]) == {
        "exchange-token",
        "http-sig",
        "invites",
        "notifications",
        "protocol-object",
    }
    assert set(doc["criteria"]) == {"must-invite", "must-use-http-sig", "allowlist"}
    assert doc["tokenEndPoint"] == f"{site_a.http}/ocm/token"
    assert doc["inviteAcceptDialog"].startswith(site_a.http)


def test_nextcloud_crawler_sees_a_version_it_accepts(site_a) -> None:  # noqa: ANN001
    request = urllib.request.Request(
        f"{site_a.http}/ocm-provider/", headers={"User-Agent": "Nextcloud Server Crawler"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        doc = json.load(response)
    jsonschema.validate(doc, DISCOVERY)
    assert doc["apiVersion"] == "1.1"


def test_jwks_published(site_a) -> None:  # noqa: ANN001
    with urllib.request.urlopen(site_a.discovery()["jwksUri"], timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/jwk-set+json")
        jwks = json.load(response)
    (key,) = jwks["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert key["kid"] and key["x"] and "d" not in key


def test_error_and_response_shapes(site_a, site_b, peer) -> None:  # noqa: ANN001
    endpoint = site_a.discovery()["endPoint"]
    status, body = peer.raw(
        f"{endpoint}/shares", b"{not json", {"Content-Type": "application/json"}
    )
    assert status == 400
    jsonschema.validate(body, ERROR)
    status, body, _ = peer.post(
        f"{endpoint}/invite-accepted",
        {
            "recipientProvider": peer.domain,
            "token": "nope",
            "userID": "u",
            "email": "u@x",
            "name": "U",
        },
    )
    assert status == 400
    jsonschema.validate(body, ERROR)


def _verify_rfc9421(jwks: dict, method: str, url: str, headers: dict[str, str]) -> dict:
    """An independent check of an RFC 9421 signature (not using corestore's verifier)."""
    import base64
    import re

    from cryptography.hazmat.primitives.asymmetric import ed25519

    label, params = headers["Signature-Input"].split("=", 1)
    components = re.findall(r'"([^"]+)"', params.split(")")[0])
    assert {"@method", "@target-uri", "content-digest", "content-length"} <= set(components)
    assert 'tag="ocm"' in params and 'alg="ed25519"' in params and ";created=" in params
    lower = {k.lower(): v for k, v in headers.items()}
    lines = []
    for c in components:
        value = {"@method": method, "@target-uri": url}.get(c, lower.get(c))
        lines.append(f'"{c}": {value}')
    lines.append(f'"@signature-params": {params}')
    kid = re.search(r'keyid="([^"]+)"', params).group(1)
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    signature = base64.b64decode(headers["Signature"].split("=", 1)[1].strip(":"))
    ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(signature, "\n".join(lines).encode())
    return {"components": components, "kid": kid}


def test_outgoing_share_token_flow_and_unshare(site_a, peer) -> None:  # noqa: ANN001
    """A share sent to a peer: the payload conforms, is RFC 9421-signed with the published key;
    the peer exchanges the secret at the token endpoint and reads with the access token; the
    unshare notification conforms and the token dies with the share."""
    import base64
    import hashlib
    import urllib.error

    from cs3.ocm.provider.v1beta1 import resources_pb2 as prov
    from cs3.sharing.ocm.v1beta1 import ocm_api_pb2 as ocm
    from cs3.sharing.ocm.v1beta1 import resources_pb2 as ocmr
    from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
    from cs3.storage.provider.v1beta1 import resources_pb2 as spr

    md = site_a.login("einstein")
    gw = site_a.gateway
    gw.CreateContainer(
        sp.CreateContainerRequest(ref=spr.Reference(path="/home/einstein/peerdata")), metadata=md
    )
    up = gw.InitiateFileUpload(
        sp.InitiateFileUploadRequest(ref=spr.Reference(path="/home/einstein/peerdata/a.txt")),
        metadata=md,
    )
    simple = next(p for p in up.protocols if p.protocol == "simple")
    put = urllib.request.Request(
        simple.upload_endpoint,
        data=b"for the peer",
        method="PUT",
        headers={"X-Reva-Transfer": simple.token},
    )
    urllib.request.urlopen(put, timeout=10).close()
    info = gw.Stat(
        sp.StatRequest(ref=spr.Reference(path="/home/einstein/peerdata")), metadata=md
    ).info
    before = len(peer.received)
    res = site_a.ocm.CreateOCMShare(
        ocm.CreateOCMShareRequest(
            resource_id=info.id,
            grantee=spr.Grantee(
                type=spr.GRANTEE_TYPE_USER, user_id={"opaque_id": "alice", "idp": peer.domain}
            ),
            recipient_mesh_provider=prov.ProviderInfo(domain=peer.domain),
        ),
        metadata=md,
    )
    assert res.status.code == 1, res.status  # CODE_OK
    assert res.recipient_display_name == "Alice Peer"
    path, headers, body = peer.received[before]
    assert path == "/ocm/shares"
    payload = json.loads(body)
    jsonschema.validate(payload, NEW_SHARE)
    assert payload["protocol"]["name"] == "multi"
    assert payload["shareWith"] == f"alice@{peer.domain}"
    assert payload["owner"] == payload["sender"] == f"einstein@{site_a.domain}"
    assert payload["resourceType"] == "folder" and payload["providerId"] == res.share.id.opaque_id
    webdav = payload["protocol"]["webdav"]
    assert webdav["permissions"] == ["read"] and webdav["uri"].startswith(
        site_a.http + "/remote.php/dav/ocm/"
    )
    assert webdav["sharedSecret"] not in webdav["uri"]
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert headers["Content-Digest"] == f"sha-256=:{digest}:"
    jwks = json.load(urllib.request.urlopen(site_a.discovery()["jwksUri"], timeout=10))
    _verify_rfc9421(jwks, "POST", f"http://{peer.domain}/ocm/shares", headers)

    # code flow: the secret for an access token, then WebDAV with the token
    token_url = site_a.discovery()["tokenEndPoint"]
    secret = webdav["sharedSecret"]
    form = f"grant_type=authorization_code&client_id={peer.domain}&code={secret}".encode()
    status, answer = peer.raw(
        token_url,
        form,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            **peer.key.sign("POST", token_url, form),
        },
    )
    assert status == 200, answer
    jsonschema.validate(answer, TOKEN_RESPONSE)
    propfind = urllib.request.Request(
        webdav["uri"] + "/",
        method="PROPFIND",
        headers={"Authorization": f"Bearer {answer['access_token']}", "Depth": "1"},
    )
    with urllib.request.urlopen(propfind, timeout=10) as response:
        assert response.status == 207 and b"a.txt" in response.read()
    # an unsigned token request is refused (site A requires signatures)
    status, _ = peer.raw(token_url, form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401

    # unshare: a conforming SHARE_UNSHARED reaches the peer, the token stops working
    site_a.ocm.RemoveOCMShare(
        ocm.RemoveOCMShareRequest(ref=ocmr.ShareReference(id=res.share.id)), metadata=md
    )
    path, headers, body = peer.received[-1]
    note = json.loads(body)
    assert path == "/ocm/notifications"
    jsonschema.validate(note, NEW_NOTIFICATION)
    assert (note["notificationType"], note["providerId"]) == (
        "SHARE_UNSHARED",
        res.share.id.opaque_id,
    )
    _verify_rfc9421(jwks, "POST", f"http://{peer.domain}/ocm/notifications", headers)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(propfind, timeout=10)
    assert err.value.code == 401


def test_invite_accepted_response_conforms(site_a, peer) -> None:  # noqa: ANN001
    from cs3.ocm.invite.v1beta1 import invite_api_pb2 as inv

    md = site_a.login("marie")
    token = site_a.invites.GenerateInviteToken(
        inv.GenerateInviteTokenRequest(), metadata=md
    ).invite_token.token
    request = {
        "recipientProvider": peer.domain,
        "token": token,
        "userID": "alice",
        "email": "alice@peer",
        "name": "Alice",
    }
    jsonschema.validate(request, ACCEPTED_INVITE)
    status, answer, _ = peer.post(f"{site_a.discovery()['endPoint']}/invite-accepted", request)
    assert status == 200, answer
    jsonschema.validate(answer, ACCEPTED_INVITE_RESPONSE)
    assert answer["userID"] == "marie"
    status, answer, _ = peer.post(f"{site_a.discovery()['endPoint']}/invite-accepted", request)
    assert status == 409
    jsonschema.validate(answer, ERROR)
