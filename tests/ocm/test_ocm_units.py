"""Address normalisation, invite strings and the signature parser, without servers."""

from __future__ import annotations

import base64
import json
import time

import pytest

from corestore.errors import InvalidArgument, Unauthenticated
from corestore.ocm.address import parse_address
from corestore.ocm.cli import parse_invite
from corestore.ocm.signatures import PeerKeys, ReplayCache, SigningKey, verify_request


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("einstein@cloud.example.org", "einstein@cloud.example.org"),
        ("einstein@https://cloud.example.org", "einstein@cloud.example.org"),  # oCIS
        (
            "einstein@cloud.example.org@cloud.example.org",
            "einstein@cloud.example.org",
        ),  # id@host@host
        ("a@b.org@cloud.example.org", "a@b.org@cloud.example.org"),  # ids may contain @
        ("einstein@Cloud.Example.org:8443/", "einstein@cloud.example.org:8443"),
        ("ZWluc3RlaW5AaG9zdA==@cloud.example.org", "ZWluc3RlaW5AaG9zdA==@cloud.example.org"),
    ],
)
def test_addresses_are_normalised(raw: str, expected: str) -> None:
    assert str(parse_address(raw)) == expected


@pytest.mark.parametrize("raw", ["", "no-at-sign", "@host", "user@", "user@bad host", 42, None])
def test_bad_addresses(raw: object) -> None:
    with pytest.raises(InvalidArgument):
        parse_address(raw)


def test_invite_strings() -> None:
    assert parse_invite("abc@cloud.example.org") == ("abc", "cloud.example.org")
    encoded = base64.urlsafe_b64encode(b"abc@cloud.example.org:8443").rstrip(b"=").decode()
    assert parse_invite(encoded) == ("abc", "cloud.example.org:8443")
    with pytest.raises(ValueError):
        parse_invite("!!!")


def _keys(key: SigningKey) -> PeerKeys:
    return PeerKeys.from_documents({"keys": [key.jwk()]}, None)


def test_sign_verify_round_trip_and_replay(tmp_path) -> None:  # noqa: ANN001
    key = SigningKey.load_or_create(tmp_path / "k.pem")
    assert SigningKey.load_or_create(tmp_path / "k.pem").kid == key.kid  # stable across restarts
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0
    body = json.dumps({"a": 1}).encode()
    url = "https://site.example/ocm/shares"
    headers = key.sign("POST", url, body)
    replay = ReplayCache(300)
    assert (
        verify_request("POST", url, headers, body, _keys(key), window=300, replay=replay) == key.kid
    )
    with pytest.raises(Unauthenticated, match="replay"):
        verify_request("POST", url, headers, body, _keys(key), window=300, replay=replay)
    with pytest.raises(Unauthenticated):
        verify_request(
            "POST",
            url + "x",
            key.sign("POST", url, body),
            body,
            _keys(key),
            window=300,
            replay=replay,
        )
    old = key.sign("POST", url, body, created=int(time.time()) - 1000)
    with pytest.raises(Unauthenticated, match="old"):
        verify_request("POST", url, old, body, _keys(key), window=300, replay=replay)


def test_two_ocm_signatures_are_refused(tmp_path) -> None:  # noqa: ANN001
    key = SigningKey.load_or_create(tmp_path / "k.pem")
    body = b"{}"
    url = "https://site.example/ocm/shares"
    one, two = key.sign("POST", url, body), key.sign("POST", url, body)
    headers = dict(one)
    headers["Signature-Input"] = (
        one["Signature-Input"] + ", " + two["Signature-Input"].replace("ocm=", "b=", 1)
    )
    headers["Signature"] = one["Signature"] + ", " + two["Signature"].replace("ocm=", "b=", 1)
    with pytest.raises(Unauthenticated, match="exactly one"):
        verify_request("POST", url, headers, body, _keys(key), window=300, replay=ReplayCache(300))
