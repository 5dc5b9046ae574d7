"""WebDAV and ownCloud-dialect behaviour over real HTTP: auth, aliases, ranges, conditionals,
ownCloud properties, folder etags, and bad input (each answered from the error tree, nothing lost).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable

import httpx
import pytest

from corestore.auth import TokenManager
from corestore.launch import ServerProcess
from corestore.testing.memory import PeakRSS

DAV = "{DAV:}"
OC = "{http://owncloud.org/ns}"
HOME = "/remote.php/dav/files/einstein"
JWT_SECRET = "webdav-test-secret-not-for-production-0123"  # the one tests/webdav/conftest.py sets

OC_PROPS = (
    '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    "<d:getetag/><d:resourcetype/><d:getcontentlength/><oc:id/><oc:fileid/><oc:permissions/><oc:size/>"
    "<oc:checksums/></d:prop></d:propfind>"
)


def propfind(
    client: httpx.Client, path: str, depth: str = "0", body: str = OC_PROPS
) -> dict[str, dict[str, str]]:
    """href -> {property tag: text} of the 200 propstats."""
    res = client.request("PROPFIND", path, headers={"Depth": depth}, content=body)
    assert res.status_code == 207, res.text
    out: dict[str, dict[str, str]] = {}
    for response in ET.fromstring(res.content).iter(f"{DAV}response"):
        found: dict[str, str] = {}
        for ps in response.iter(f"{DAV}propstat"):
            if "200" in ps.findtext(f"{DAV}status", ""):
                for prop in ps.find(f"{DAV}prop"):
                    found[prop.tag] = "".join(prop.itertext())
        out[response.findtext(f"{DAV}href")] = found
    return out


@pytest.fixture
def einstein(dav_client: Callable[..., httpx.Client]) -> httpx.Client:
    return dav_client("einstein")


@pytest.fixture
def folder(einstein: httpx.Client, request: pytest.FixtureRequest) -> str:
    """A fresh folder for one test, under einstein's home."""
    path = f"{HOME}/{request.node.name.replace('[', '_').replace(']', '')}"
    einstein.request("DELETE", path)
    assert einstein.request("MKCOL", path).status_code == 201
    return path


# -- ownCloud dialect and auth ------------------------------------------------------------------


def test_status_capabilities_and_user(dav_server: ServerProcess, einstein: httpx.Client) -> None:
    status = httpx.get(dav_server.http_url + "/status.php").json()
    assert status["installed"] is True and status["maintenance"] is False
    for version, code in (("v1", 100), ("v2", 200)):
        caps = httpx.get(
            f"{dav_server.http_url}/ocs/{version}.php/cloud/capabilities?format=json"
        ).json()["ocs"]
        assert caps["meta"]["statuscode"] == code
        assert caps["data"]["capabilities"]["checksums"]["supportedTypes"] == ["SHA1"]
        xml = httpx.get(f"{dav_server.http_url}/ocs/{version}.php/cloud/capabilities?format=xml")
        assert ET.fromstring(xml.content).findtext("meta/statuscode") == str(code)
        user = einstein.get(f"/ocs/{version}.php/cloud/user?format=json").json()["ocs"]["data"]
        assert user["id"] == "einstein" and user["display-name"] == "Albert Einstein"
    assert httpx.get(dav_server.http_url + "/ocs/v1.php/cloud/user").status_code == 401


def test_auth_basic_and_bearer(dav_server: ServerProcess) -> None:
    url = dav_server.http_url + HOME + "/"
    anonymous = httpx.request("PROPFIND", url, headers={"Depth": "0"})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith(
        "Basic"
    )
    assert (
        httpx.request(
            "PROPFIND", url, headers={"Depth": "0"}, auth=("einstein", "wrong")
        ).status_code
        == 401
    )
    token = TokenManager(JWT_SECRET).mint_access("einstein")
    bearer = httpx.request(
        "PROPFIND", url, headers={"Depth": "0", "Authorization": f"Bearer {token}"}
    )
    assert bearer.status_code == 207
    forged = TokenManager("another-secret-that-is-long-enough-0123456789").mint_access("einstein")
    assert (
        httpx.request(
            "PROPFIND", url, headers={"Depth": "0", "Authorization": f"Bearer {forged}"}
        ).status_code
        == 401
    )


def test_aliases_name_the_same_files(einstein: httpx.Client, folder: str) -> None:
    name = folder.rsplit("/", 1)[1]
    assert einstein.put(f"/remote.php/webdav/{name}/a.txt", content=b"alias").status_code == 201
    assert einstein.get(f"/dav/files/einstein/{name}/a.txt").content == b"alias"
    assert einstein.get(f"{folder}/a.txt").content == b"alias"


def test_oc_properties_and_folder_etags(einstein: httpx.Client, folder: str) -> None:
    assert einstein.request("MKCOL", f"{folder}/a").status_code == 201
    assert einstein.request("MKCOL", f"{folder}/a/b").status_code == 201
    put = einstein.put(f"{folder}/a/b/f.txt", content=b"one", headers={"X-OC-Mtime": "1700000000"})
    assert (
        put.status_code == 201
        and put.headers["OC-FileId"]
        and put.headers["X-OC-MTime"] == "accepted"
    )
    before = propfind(einstein, f"{folder}/", "1") | propfind(einstein, f"{folder}/a/b/", "1")
    info = before[f"{folder}/a/b/f.txt"]
    assert info[f"{OC}fileid"] == put.headers["OC-FileId"] == info[f"{OC}id"]
    assert info[f"{OC}permissions"] == "RDNVW" and info[f"{OC}size"] == "3"
    assert info[f"{OC}checksums"] == "SHA1:" + hashlib.sha1(b"one").hexdigest()
    assert before[f"{folder}/a/"][f"{OC}permissions"] == "RDNVCK"
    assert (
        f"{DAV}getlastmodified"
        in propfind(
            einstein,
            f"{folder}/a/b/f.txt",
            "0",
            '<d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>',
        )[f"{folder}/a/b/f.txt"]
    )

    assert einstein.put(f"{folder}/a/b/f.txt", content=b"two").status_code == 204
    after = propfind(einstein, f"{folder}/", "1") | propfind(einstein, f"{folder}/a/b/", "1")
    for path in (f"{folder}/", f"{folder}/a/", f"{folder}/a/b/", f"{folder}/a/b/f.txt"):
        assert after[path][f"{DAV}getetag"] != before[path][f"{DAV}getetag"], path

    moved = einstein.request(
        "MOVE", f"{folder}/a/b/f.txt", headers={"Destination": f"{folder}/g.txt"}
    )
    assert moved.status_code == 201
    assert (
        propfind(einstein, f"{folder}/g.txt")[f"{folder}/g.txt"][f"{OC}fileid"]
        == info[f"{OC}fileid"]
    )


def test_ranges_and_conditionals(einstein: httpx.Client, folder: str) -> None:
    data = bytes(range(256)) * 4
    etag = einstein.put(f"{folder}/r.bin", content=data).headers["ETag"]
    part = einstein.get(f"{folder}/r.bin", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert einstein.get(f"{folder}/r.bin", headers={"Range": "bytes=-5"}).content == data[-5:]
    assert einstein.get(f"{folder}/r.bin", headers={"Range": "bytes=5000-"}).status_code == 416
    assert einstein.get(f"{folder}/r.bin", headers={"If-None-Match": etag}).status_code == 304
    assert einstein.head(f"{folder}/r.bin").headers["Content-Length"] == str(len(data))
    assert (
        einstein.put(f"{folder}/r.bin", content=b"x", headers={"If-Match": '"stale"'}).status_code
        == 412
    )
    assert (
        einstein.put(f"{folder}/r.bin", content=b"x", headers={"If-None-Match": "*"}).status_code
        == 412
    )
    assert einstein.delete(f"{folder}/r.bin", headers={"If-Match": '"stale"'}).status_code == 412
    assert einstein.get(f"{folder}/r.bin").content == data
    assert (
        einstein.put(f"{folder}/r.bin", content=b"x", headers={"If-Match": etag}).status_code == 204
    )


def test_copy_depth_and_overwrite(einstein: httpx.Client, folder: str) -> None:
    assert einstein.request("MKCOL", f"{folder}/src").status_code == 201
    einstein.put(f"{folder}/src/in.txt", content=b"inside")
    shallow = einstein.request(
        "COPY", f"{folder}/src", headers={"Destination": f"{folder}/shallow", "Depth": "0"}
    )
    assert shallow.status_code == 201
    assert list(propfind(einstein, f"{folder}/shallow/", "1")) == [f"{folder}/shallow/"]
    deep = einstein.request("COPY", f"{folder}/src", headers={"Destination": f"{folder}/deep"})
    assert deep.status_code == 201 and einstein.get(f"{folder}/deep/in.txt").content == b"inside"
    refused = einstein.request(
        "COPY", f"{folder}/src", headers={"Destination": f"{folder}/deep", "Overwrite": "F"}
    )
    assert refused.status_code == 412
    assert (
        einstein.request(
            "MOVE", f"{folder}/src", headers={"Destination": f"{folder}/src/below"}
        ).status_code
        == 409
    )


# -- bad input ------------------------------------------------------------------------------------


def test_malformed_xml_is_400(einstein: httpx.Client, folder: str) -> None:
    for method, body in (
        ("PROPFIND", "<d:propfind xmlns:d='DAV:'><d:prop>"),
        ("PROPFIND", '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'),
        ("PROPPATCH", "not xml at all"),
        ("PROPPATCH", '<d:propfind xmlns:d="DAV:"/>'),
        ("LOCK", "<d:lockinfo xmlns:d='DAV:'><d:lockscope>"),
    ):
        res = einstein.request(method, f"{folder}/", headers={"Depth": "0"}, content=body)
        assert res.status_code == 400, (method, body, res.text)
        assert "Traceback" not in res.text
    assert einstein.request("PROPFIND", f"{folder}/", headers={"Depth": "2"}).status_code == 400


def test_depth_infinity_is_refused(einstein: httpx.Client, folder: str) -> None:
    for i in range(40):
        assert einstein.request("MKCOL", f"{folder}/d{i}").status_code == 201
    for headers in ({"Depth": "infinity"}, {}):
        res = einstein.request("PROPFIND", f"{folder}/", headers=headers)
        assert res.status_code == 403
        assert ET.fromstring(res.content).find(f"{DAV}propfind-finite-depth") is not None


def test_overlong_paths_are_400(einstein: httpx.Client, folder: str) -> None:
    assert einstein.put(f"{folder}/{'n' * 300}", content=b"x").status_code == 400
    assert einstein.request("MKCOL", f"{folder}/{'/'.join(['d' * 200] * 25)}").status_code == 400
    assert (
        einstein.request(
            "MOVE", f"{folder}/", headers={"Destination": f"{folder}/{'m' * 300}"}
        ).status_code
        == 400
    )
    assert list(propfind(einstein, f"{folder}/", "1")) == [f"{folder}/"]


def test_move_outside_the_users_tree(
    dav_server: ServerProcess,
    einstein: httpx.Client,
    dav_client: Callable[..., httpx.Client],
    folder: str,
) -> None:
    einstein.put(f"{folder}/mine.txt", content=b"keep me")
    for destination in (
        "/remote.php/dav/files/marie/stolen.txt",
        "/dav/files/marie/stolen.txt",
        "http://elsewhere.example/remote.php/dav/files/einstein/x.txt",
        "/metrics",
        "/remote.php/dav/files/nobody/x.txt",
    ):
        for method in ("MOVE", "COPY"):
            res = einstein.request(
                method, f"{folder}/mine.txt", headers={"Destination": destination}
            )
            assert res.status_code == 403, (method, destination, res.text)
    assert einstein.get(f"{folder}/mine.txt").content == b"keep me"
    marie = dav_client("marie")
    assert marie.get("/remote.php/dav/files/marie/stolen.txt").status_code == 404
    assert (
        einstein.request(
            "PROPFIND", "/remote.php/dav/files/marie/", headers={"Depth": "0"}
        ).status_code
        == 403
    )
    assert einstein.request("MOVE", f"{folder}/mine.txt").status_code == 400  # no Destination


def test_lock_conflict(
    einstein: httpx.Client, dav_client: Callable[..., httpx.Client], folder: str
) -> None:
    path = f"{folder}/locked.txt"
    einstein.put(path, content=b"original")
    lockinfo = (
        '<?xml version="1.0"?><d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope>'
        "<d:locktype><d:write/></d:locktype><d:owner>tests</d:owner></d:lockinfo>"
    )
    locked = einstein.request("LOCK", path, content=lockinfo, headers={"Timeout": "Second-600"})
    assert locked.status_code == 200
    token = locked.headers["Lock-Token"].strip("<>")
    assert token.startswith("opaquelocktoken:")

    other = dav_client("einstein")
    assert other.request("LOCK", path, content=lockinfo).status_code == 423
    assert other.put(path, content=b"overwritten").status_code == 423
    assert other.delete(path).status_code == 423
    assert (
        other.request("MOVE", path, headers={"Destination": f"{folder}/moved.txt"}).status_code
        == 423
    )
    assert (
        other.request(
            "UNLOCK", path, headers={"Lock-Token": "<opaquelocktoken:not-mine>"}
        ).status_code
        == 409
    )
    assert einstein.get(path).content == b"original"
    discovered = propfind(
        einstein,
        path,
        "0",
        '<d:propfind xmlns:d="DAV:"><d:prop><d:lockdiscovery/></d:prop></d:propfind>',
    )
    assert token in discovered[path][f"{DAV}lockdiscovery"]

    assert (
        einstein.put(path, content=b"by the holder", headers={"If": f"(<{token}>)"}).status_code
        == 204
    )
    assert einstein.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}).status_code == 204
    assert other.put(path, content=b"after unlock").status_code == 204


def test_dead_properties_live_in_metadata(einstein: httpx.Client, folder: str) -> None:
    body = (
        '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example">'
        "<d:set><d:prop><x:colour>blue</x:colour><x:rich><x:a>1</x:a>text</x:rich></d:prop></d:set>"
        "</d:propertyupdate>"
    )
    assert einstein.request("PROPPATCH", f"{folder}/", content=body).status_code == 207
    got = propfind(
        einstein,
        f"{folder}/",
        "0",
        '<d:propfind xmlns:d="DAV:" xmlns:x="urn:example"><d:prop>'
        "<x:colour/><x:rich/></d:prop></d:propfind>",
    )[f"{folder}/"]
    assert got["{urn:example}colour"] == "blue" and got["{urn:example}rich"] == "1text"
    protected = (
        '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop>'
        "<d:getetag>x</d:getetag></d:prop></d:set></d:propertyupdate>"
    )
    assert "403" in einstein.request("PROPPATCH", f"{folder}/", content=protected).text


@pytest.mark.slow
def test_streams_both_ways_in_bounded_memory(
    dav_server: ServerProcess, einstein: httpx.Client, folder: str
) -> None:
    size, block = 256 << 20, bytes(range(256)) * 4096  # 256 MiB in 1 MiB blocks

    def body():
        for _ in range(size // len(block)):
            yield block

    with PeakRSS(dav_server.pid) as up:
        res = einstein.put(
            f"{folder}/big.bin", content=body(), headers={"Content-Length": str(size)}
        )
    assert res.status_code == 201
    digest = hashlib.sha1()
    with PeakRSS(dav_server.pid) as down, einstein.stream("GET", f"{folder}/big.bin") as stream:
        for chunk in stream.iter_bytes():
            digest.update(chunk)
    expected = hashlib.sha1()
    for chunk in body():
        expected.update(chunk)
    assert digest.hexdigest() == expected.hexdigest()
    print(
        f"peak RSS growth of the server: upload {up.growth >> 20} MiB,"
        f" download {down.growth >> 20} MiB"
    )
    assert up.growth < 64 << 20, f"upload grew the server by {up.growth >> 20} MiB"
    assert down.growth < 64 << 20, f"download grew the server by {down.growth >> 20} MiB"


def test_owncloud_v1_chunked_upload(
    dav_server: ServerProcess, einstein: httpx.Client, folder: str
) -> None:
    """Chunks arrive out of order; only the one completing the set answers with an ETag."""
    parts = [b"a" * 1000, b"b" * 1000, b"c" * 10]
    headers = {
        "OC-Chunked": "1",
        "OC-Checksum": "SHA1:" + hashlib.sha1(b"".join(parts)).hexdigest(),
    }
    for index in (2, 0):
        res = einstein.put(
            f"{folder}/big.txt-chunking-4711-3-{index}", content=parts[index], headers=headers
        )
        assert res.status_code == 201 and "ETag" not in res.headers
    assert einstein.get(f"{folder}/big.txt").status_code == 404
    last = einstein.put(f"{folder}/big.txt-chunking-4711-3-1", content=parts[1], headers=headers)
    assert last.status_code == 201 and last.headers["ETag"] and last.headers["OC-FileId"]
    assert einstein.get(f"{folder}/big.txt").content == b"".join(parts)
    assert list(propfind(einstein, f"{folder}/", "1")) == [f"{folder}/", f"{folder}/big.txt"]
    assert not any((dav_server.root / "uploads" / "webdav-chunks").iterdir())

    bad = {"OC-Chunked": "1", "OC-Checksum": "SHA1:" + "0" * 40}
    for index, part in enumerate(parts):
        res = einstein.put(f"{folder}/big.txt-chunking-99-3-{index}", content=part, headers=bad)
    assert res.status_code == 419  # the assembled file does not match: nothing replaced
    assert einstein.get(f"{folder}/big.txt").content == b"".join(parts)
    assert einstein.put(f"{folder}/x-chunking-1-2-5", content=b"", headers=bad).status_code == 400
