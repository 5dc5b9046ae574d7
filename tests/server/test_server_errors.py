"""Bad input gets the right CS3 code or HTTP status, never a traceback; the server keeps going."""

from __future__ import annotations

import hashlib
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import grpc
import jwt
import pytest
import requests
from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
from cs3.rpc.v1beta1 import code_pb2
from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
from cs3.storage.provider.v1beta1 import resources_pb2 as spr
from cs3.types.v1beta1 import types_pb2

from corestore.http.socketbody import MIN_SIZE

SECRET = "test-secret-not-for-production-0123456789"  # the session server's jwt_secret (conftest)
MESSAGES: list[str] = []  # every status message and HTTP body the tests saw


def code(response: Any) -> str:
    MESSAGES.append(response.status.message)
    return code_pb2.Code.Name(response.status.code)


def body(response: requests.Response) -> int:
    MESSAGES.append(response.text)
    return response.status_code


def ref(path: str) -> spr.Reference:
    return spr.Reference(path=path)


@pytest.fixture
def folder(gateway: Any, einstein: list) -> str:
    path = f"/home/einstein/err-{uuid.uuid4().hex[:8]}"
    assert (
        code(gateway.CreateContainer(sp.CreateContainerRequest(ref=ref(path)), metadata=einstein))
        == "CODE_OK"
    )
    return path


def initiate_upload(
    gateway: Any, token: list, path: str, size: int | None = None, checksum: str | None = None
) -> Any:
    entries = {}
    if size is not None:
        entries["Upload-Length"] = types_pb2.OpaqueEntry(decoder="plain", value=str(size).encode())
    if checksum:
        entries["Upload-Checksum"] = types_pb2.OpaqueEntry(decoder="plain", value=checksum.encode())
    return gateway.InitiateFileUpload(
        sp.InitiateFileUploadRequest(ref=ref(path), opaque=types_pb2.Opaque(map=entries)),
        metadata=token,
    )


def put(gateway: Any, token: list, path: str, data: bytes) -> requests.Response:
    res = initiate_upload(gateway, token, path, len(data))
    assert code(res) == "CODE_OK"
    simple = next(p for p in res.protocols if p.protocol == "simple")
    return requests.put(
        simple.upload_endpoint, data=data, headers={"X-Reva-Transfer": simple.token}, timeout=30
    )


def get(
    gateway: Any, token: list, path: str, headers: dict | None = None, method: str = "GET"
) -> requests.Response:
    res = gateway.InitiateFileDownload(
        sp.InitiateFileDownloadRequest(ref=ref(path)), metadata=token
    )
    assert code(res) == "CODE_OK"
    return requests.request(
        method, res.protocols[0].download_endpoint, headers=headers or {}, timeout=30
    )


# -- authentication -----------------------------------------------------------------------------


def test_wrong_password(gateway: Any) -> None:
    res = gateway.Authenticate(
        gw.AuthenticateRequest(type="basic", client_id="einstein", client_secret="nope")
    )
    assert code(res) == "CODE_UNAUTHENTICATED" and not res.token
    res = gateway.Authenticate(
        gw.AuthenticateRequest(type="basic", client_id="nobody", client_secret="x")
    )
    assert code(res) == "CODE_UNAUTHENTICATED"
    res = gateway.Authenticate(
        gw.AuthenticateRequest(type="oidc", client_id="einstein", client_secret="relativity")
    )
    assert code(res) == "CODE_INVALID_ARGUMENT"


@pytest.mark.parametrize(
    "kind", ["missing", "expired", "forged", "unsigned", "garbage", "transfer"]
)
def test_bad_access_tokens(gateway: Any, einstein: list, kind: str) -> None:
    now = int(time.time())
    claims = {"sub": "einstein", "aud": "corestore", "typ": "access", "iat": now, "exp": now + 600}
    token = {
        "missing": None,
        "expired": jwt.encode({**claims, "exp": now - 10}, SECRET, algorithm="HS256"),
        "forged": jwt.encode(claims, "another-secret-of-at-least-32-bytes!", algorithm="HS256"),
        "unsigned": jwt.encode(claims, None, algorithm="none"),
        "garbage": "not.a.jwt",
        "transfer": jwt.encode(
            {**claims, "aud": "corestore-data", "typ": "transfer"}, SECRET, algorithm="HS256"
        ),
    }[kind]
    metadata = [("x-access-token", token)] if token else []
    res = gateway.Stat(sp.StatRequest(ref=ref("/home/einstein")), metadata=metadata)
    assert code(res) == "CODE_UNAUTHENTICATED"
    res = gateway.WhoAmI(gw.WhoAmIRequest(token=token or ""))
    assert code(res) == "CODE_UNAUTHENTICATED"
    # the genuine token still works
    assert code(gateway.WhoAmI(gw.WhoAmIRequest(token=einstein[0][1]))) == "CODE_OK"


# -- namespace errors ---------------------------------------------------------------------------


def test_path_escape(gateway: Any, einstein: list, folder: str) -> None:
    assert (
        code(gateway.Stat(sp.StatRequest(ref=ref("/home/einstein/../marie")), metadata=einstein))
        == "CODE_PERMISSION_DENIED"
    )
    info = gateway.Stat(sp.StatRequest(ref=ref(folder)), metadata=einstein).info
    escape = spr.Reference(resource_id=info.id, path="./../../marie")
    assert (
        code(gateway.Stat(sp.StatRequest(ref=escape), metadata=einstein))
        == "CODE_PERMISSION_DENIED"
    )
    res = gateway.CreateContainer(
        sp.CreateContainerRequest(ref=ref("/home/einstein/a/../../../etc")), metadata=einstein
    )
    assert code(res) == "CODE_PERMISSION_DENIED"
    # and nobody may reach another user's home without a grant
    assert (
        code(
            gateway.ListContainer(
                sp.ListContainerRequest(ref=ref("/home/marie")), metadata=einstein
            )
        )
        == "CODE_PERMISSION_DENIED"
    )


def test_upload_onto_a_folder(gateway: Any, einstein: list, folder: str) -> None:
    assert code(initiate_upload(gateway, einstein, folder, 3)) == "CODE_FAILED_PRECONDITION"


def test_missing_parent(gateway: Any, einstein: list, folder: str) -> None:
    assert (
        code(initiate_upload(gateway, einstein, f"{folder}/no/such/file", 3))
        == "CODE_FAILED_PRECONDITION"
    )
    res = gateway.CreateContainer(
        sp.CreateContainerRequest(ref=ref(f"{folder}/no/such")), metadata=einstein
    )
    assert code(res) == "CODE_FAILED_PRECONDITION"
    res = gateway.TouchFile(sp.TouchFileRequest(ref=ref(f"{folder}/no/file")), metadata=einstein)
    assert code(res) == "CODE_FAILED_PRECONDITION"


def test_unknown_storage_id(gateway: Any, einstein: list) -> None:
    bogus = spr.Reference(
        resource_id=spr.ResourceId(storage_id="nope", opaque_id="x", space_id="nope"), path="."
    )
    assert code(gateway.Stat(sp.StatRequest(ref=bogus), metadata=einstein)) == "CODE_NOT_FOUND"
    unknown_id = spr.Reference(
        resource_id=spr.ResourceId(storage_id="home", opaque_id="no-such-id"), path="."
    )
    assert code(gateway.Stat(sp.StatRequest(ref=unknown_id), metadata=einstein)) == "CODE_NOT_FOUND"
    assert (
        code(gateway.Stat(sp.StatRequest(ref=ref("/elsewhere/x")), metadata=einstein))
        == "CODE_NOT_FOUND"
    )


def test_garbage_protobuf(server: Any, gateway: Any, einstein: list, folder: str) -> None:
    with grpc.insecure_channel(server.grpc_address) as channel:
        raw = channel.unary_unary(
            "/cs3.gateway.v1beta1.GatewayAPI/Stat",
            request_serializer=None,
            response_deserializer=sp.StatResponse.FromString,
        )
        res = raw(b"\xff\xff\xff\xff\x0f\x12\x99garbage", metadata=einstein)
        assert code(res) == "CODE_INVALID_ARGUMENT"
        # an unknown method is a gRPC-level UNIMPLEMENTED, not a crash
        other = channel.unary_unary(
            "/cs3.gateway.v1beta1.GatewayAPI/NoSuchRpc",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.RpcError) as err:
            other(b"", metadata=einstein)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    bad_lock = spr.Lock(lock_id="x", type=77)  # no such lock type
    assert (
        code(gateway.SetLock(sp.SetLockRequest(ref=ref(folder), lock=bad_lock), metadata=einstein))
        == "CODE_INVALID_ARGUMENT"
    )
    assert (
        code(gateway.Stat(sp.StatRequest(ref=ref("/home/einstein/a\x00b")), metadata=einstein))
        == "CODE_INVALID_ARGUMENT"
    )
    assert (
        code(gateway.Stat(sp.StatRequest(ref=ref("relative/path")), metadata=einstein))
        == "CODE_INVALID_ARGUMENT"
    )
    assert code(gateway.Stat(sp.StatRequest(), metadata=einstein)) == "CODE_INVALID_ARGUMENT"
    res = initiate_upload(gateway, einstein, f"{folder}/f", checksum="sha1")
    assert code(res) == "CODE_INVALID_ARGUMENT"
    entries = {"Upload-Length": types_pb2.OpaqueEntry(decoder="plain", value=b"lots")}
    res = gateway.InitiateFileUpload(
        sp.InitiateFileUploadRequest(ref=ref(f"{folder}/f"), opaque=types_pb2.Opaque(map=entries)),
        metadata=einstein,
    )
    assert code(res) == "CODE_INVALID_ARGUMENT"


# -- data path ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1 << 20, MIN_SIZE], ids=["parsed-body", "socket-body"])
def test_upload_cut_mid_stream_keeps_old_content(
    gateway: Any, einstein: list, folder: str, size: int
) -> None:
    path = f"{folder}/keep.bin"
    assert body(put(gateway, einstein, path, b"old")) == 200
    res = initiate_upload(gateway, einstein, path, size)
    simple = next(p for p in res.protocols if p.protocol == "simple")
    url = urlsplit(simple.upload_endpoint)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            (
                f"PUT {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {size}\r\n\r\n"
            ).encode()
        )
        sock.sendall(b"n" * (size // 3))
        time.sleep(0.2)
    time.sleep(0.3)
    assert get(gateway, einstein, path).content == b"old"
    # a stream shorter than announced (chunked, so the server only sees the end) is refused too
    res = initiate_upload(gateway, einstein, path, size)
    simple = next(p for p in res.protocols if p.protocol == "simple")
    short = requests.put(simple.upload_endpoint, data=iter([b"a" * 1000]), timeout=30)
    assert body(short) == 400
    assert get(gateway, einstein, path).content == b"old"


def test_checksum_is_verified(gateway: Any, einstein: list, folder: str) -> None:
    path = f"{folder}/sum.txt"
    data = b"payload"
    res = initiate_upload(
        gateway, einstein, path, len(data), checksum="sha1 " + hashlib.sha1(b"other").hexdigest()
    )
    simple = next(p for p in res.protocols if p.protocol == "simple")
    assert body(requests.put(simple.upload_endpoint, data=data, timeout=30)) == 419
    assert code(gateway.Stat(sp.StatRequest(ref=ref(path)), metadata=einstein)) == "CODE_NOT_FOUND"
    res = initiate_upload(
        gateway, einstein, path, len(data), checksum="sha1 " + hashlib.sha1(data).hexdigest()
    )
    simple = next(p for p in res.protocols if p.protocol == "simple")
    ok = requests.put(simple.upload_endpoint, data=data, timeout=30)
    assert body(ok) == 200 and ok.headers["OC-Checksum"]
    oc = requests.put(
        simple.upload_endpoint, data=data, headers={"OC-Checksum": "MD5:" + "0" * 32}, timeout=30
    )
    assert body(oc) == 419


def test_transfer_tokens(server: Any, gateway: Any, einstein: list, folder: str) -> None:
    path = f"{folder}/t.txt"
    assert body(put(gateway, einstein, path, b"abc")) == 200
    base = f"{server.http_url}/data/simple"
    assert body(requests.get(f"{base}/not-a-token", timeout=10)) == 401
    now = int(time.time())
    claims = {
        "sub": "einstein",
        "aud": "corestore-data",
        "typ": "transfer",
        "op": "download",
        "target": {"sid": "home", "path": "/einstein/x"},
        "iat": now,
    }
    expired = jwt.encode({**claims, "exp": now - 5}, SECRET, algorithm="HS256")
    forged = jwt.encode(
        {**claims, "exp": now + 60}, "another-secret-of-at-least-32-bytes!", algorithm="HS256"
    )
    assert body(requests.get(f"{base}/{expired}", timeout=10)) == 401
    assert body(requests.get(f"{base}/{forged}", timeout=10)) == 401
    upload = initiate_upload(gateway, einstein, path, 3).protocols[0].token
    assert body(requests.get(f"{base}/{upload}", timeout=10)) == 403  # an upload token cannot read
    assert body(requests.post(f"{base}/{upload}", timeout=10)) == 405


def test_ranges_and_head(gateway: Any, einstein: list, folder: str) -> None:
    path = f"{folder}/range.bin"
    data = bytes(range(256)) * 16
    put(gateway, einstein, path, data)
    res = get(gateway, einstein, path, {"Range": "bytes=10-19"})
    assert body(res) == 206 and res.content == data[10:20]
    assert res.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    res = get(gateway, einstein, path, {"Range": "bytes=-5"})
    assert body(res) == 206 and res.content == data[-5:]
    res = get(gateway, einstein, path, {"Range": "bytes=4000-"})
    assert res.content == data[4000:]
    res = get(gateway, einstein, path, {"Range": f"bytes={len(data)}-"})
    assert body(res) == 416 and res.headers["Content-Range"] == f"bytes */{len(data)}"
    res = get(gateway, einstein, path, method="HEAD")
    assert (
        res.status_code == 200
        and int(res.headers["Content-Length"]) == len(data)
        and not res.content
    )
    assert res.headers["ETag"] and res.headers["Accept-Ranges"] == "bytes"
    res = gateway.InitiateFileDownload(
        sp.InitiateFileDownloadRequest(ref=ref(folder)), metadata=einstein
    )
    assert code(res) == "CODE_FAILED_PRECONDITION"  # a folder cannot be downloaded


def test_error_messages_name_global_paths(gateway: Any, einstein: list, folder: str) -> None:
    """Drivers report their own paths (``/einstein/...``); clients see the namespace's."""
    res = gateway.Stat(sp.StatRequest(ref=ref(f"{folder}/missing")), metadata=einstein)
    assert code(res) == "CODE_NOT_FOUND"
    assert f"{folder}/missing" in res.status.message


def test_no_tracebacks_and_still_serving(server: Any, gateway: Any, einstein: list) -> None:
    assert MESSAGES, "the tests above recorded no responses"
    for text in MESSAGES:
        assert "Traceback" not in text and 'File "' not in text, text
    assert requests.get(f"{server.http_url}/healthz", timeout=10).json() == {"status": "ok"}
    assert (
        code(gateway.Stat(sp.StatRequest(ref=ref("/home/einstein")), metadata=einstein))
        == "CODE_OK"
    )
    assert server.proc.poll() is None
