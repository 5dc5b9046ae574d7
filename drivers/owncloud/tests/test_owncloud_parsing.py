"""The dialect's parsing, on ownCloud's published answers and Nextcloud's documented shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corestore_owncloud import OwncloudDriver
from corestore_owncloud.dialect import (
    parse_capabilities,
    parse_checksums,
    parse_multistatus,
    pick_checksum,
    product_of_status,
)

from corestore.errors import ConfigError
from corestore.resources import Checksum

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str, base: str):  # noqa: ANN201
    return parse_multistatus((FIXTURES / name).read_bytes(), base)


def test_owncloud_file_properties() -> None:
    (entry,) = load("owncloud-files-search.xml", "/remote.php/dav/files/admin")
    assert entry.segments == ("Test", "Sub-test", "Site-Plan.md")
    assert entry.fileid == "65" and entry.etag == '"0286fcdabf5b4f5ef84788d86c37e245"'
    assert entry.content_type == "text/markdown" and not entry.is_dir
    assert entry.oc_size == 423 and entry.mtime == 1501221067.0


def test_nextcloud_listing_with_checksums_and_folder_size() -> None:
    folder, photo = load("nextcloud-files.xml", "/remote.php/dav/files/alice")
    assert folder.segments == ("Photos",) and folder.is_dir and folder.fileid == "6"
    assert folder.total_size == 3030237  # oc:size: folders have no getcontentlength
    assert folder.checksums == () and "{http://owncloud.org/ns}checksums" in folder.failed_props
    assert photo.segments == ("Photos", "Birdie & Co.jpg")
    assert photo.size == 3030237 and photo.fileid == "7"
    assert photo.checksums == (Checksum("md5", "04c36b75222cd9fd47f2607333029106"),)


def test_owncloud_versions() -> None:
    root, *versions = load("owncloud-meta-versions.xml", "/remote.php/dav/meta/13/v")
    assert root.segments == () and root.is_dir
    assert [v.segments[0] for v in versions] == [
        "1585557207",
        "1585557036",
        "1585556860",
        "1584946264",
    ]
    assert [v.size for v in versions] == [13313, 13055, 13091, 36227]
    assert versions[0].etag == '"44daf1a8e9f196de0e8f8af3d5a7b6c6"'
    assert versions[0].mtime == 1585557207.0  # getlastmodified, matching the key
    assert "{DAV:}quota-used-bytes" in versions[0].failed_props


def test_nextcloud_versions() -> None:
    root, *versions = load("nextcloud-versions.xml", "/remote.php/dav/versions/alice/versions/7")
    assert root.segments == () and root.is_dir
    assert [(v.segments[0], v.size) for v in versions] == [
        ("1675789581", 3030237),
        ("1658293943", 2950773),
    ]
    assert all(v.mtime == float(v.segments[0]) for v in versions)


def test_owncloud_trash_bin() -> None:
    entries = load("owncloud-trash-bin.xml", "/remote.php/dav/trash-bin/admin")
    top = {e.segments[0]: e for e in entries if len(e.segments) == 1}
    assert set(top) == {"255", "123", "119"}, "nested items are not top-level trash items"
    folder = top["255"]
    assert folder.is_dir and folder.trash_name == "Level 1" and folder.trash_location == "Level 1"
    assert folder.trash_time == 1562660798.0  # Tue, 09 Jul 2019 08:26:38 GMT
    image = top["123"]
    assert (image.trash_location, image.size, image.is_dir) == ("git-image-one.png", 1067792, False)
    (nested,) = [e for e in entries if len(e.segments) == 4]
    assert nested.trash_location == "Level 1/Level 2/Level 3/test.txt"


def test_nextcloud_trashbin() -> None:
    root, photo, folder = load("nextcloud-trashbin.xml", "/remote.php/dav/trashbin/alice/trash")
    assert root.segments == () and root.trash_name is None
    assert photo.segments == ("Birdie & Co.jpg.d1675789581",)
    assert photo.trash_name == "Birdie & Co.jpg"
    assert photo.trash_location == "Photos/Birdie & Co.jpg" and photo.trash_time == 1675789581.0
    assert (
        folder.is_dir
        and folder.total_size == 8192
        and folder.trash_location == "Documents/Old notes"
    )


def test_trash_locations_map_into_the_mounted_folder() -> None:
    driver = OwncloudDriver.from_config(
        {"url": "https://cloud.example.org/", "username": "alice", "folder": "/Photos"}
    )
    assert driver._mount_segments("Photos/Birdie & Co.jpg") == ("Birdie & Co.jpg",)
    assert driver._mount_segments("/Photos") == ()
    assert driver._mount_segments("Documents/Old notes") is None
    assert driver._mount_segments("../etc/passwd") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "SHA1:AB12 MD5:cd34 ADLER32:0a1b",
            [("sha1", "ab12"), ("md5", "cd34"), ("adler32", "0a1b")],
        ),
        ("md5:04c36b75222cd9fd47f2607333029106", [("md5", "04c36b75222cd9fd47f2607333029106")]),
        ("SHA3-256:ff bogus :x", []),
        ("", []),
    ],
)
def test_checksum_strings(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(c.type, c.value) for c in parse_checksums(text)] == expected


def test_preferred_checksum() -> None:
    both = list(parse_checksums("MD5:aa SHA1:bb"))
    assert pick_checksum(both, "sha1") == Checksum("sha1", "bb")
    assert pick_checksum(both, "sha256") == Checksum("md5", "aa")
    assert pick_checksum([], "sha1") is None


def test_capabilities_of_both_servers() -> None:
    owncloud = {
        "ocs": {
            "data": {
                "version": {
                    "major": 10,
                    "string": "10.12.2",
                    "edition": "Community",
                    "product": "ownCloud",
                },
                "capabilities": {
                    "checksums": {"supportedTypes": ["SHA1"], "preferredUploadType": "SHA1"},
                    "files": {"undelete": True, "versioning": True, "bigfilechunking": True},
                    "dav": {"chunking": "1.0", "trashbin": "1.0"},
                },
            }
        }
    }
    nextcloud = {
        "ocs": {
            "data": {
                "version": {"major": 28, "string": "28.0.4", "edition": ""},
                "capabilities": {
                    "files": {"undelete": True, "versioning": False},
                    "theming": {"name": "Nextcloud"},
                },
            }
        }
    }
    oc = parse_capabilities(json.dumps(owncloud).encode())
    assert (oc.versioning, oc.undelete, oc.product, oc.checksum_types) == (
        True,
        True,
        "ownCloud",
        ("sha1",),
    )
    nc = parse_capabilities(json.dumps(nextcloud).encode())
    assert (nc.versioning, nc.undelete, nc.product) == (False, True, "Nextcloud")
    for broken in (b"", b"<html>", b"[]", b'{"ocs": {}}'):
        assert parse_capabilities(broken).versioning is False


def test_status_php() -> None:
    assert (
        product_of_status(b'{"installed":true,"productname":"Nextcloud","version":"28.0.4.1"}')
        == "Nextcloud"
    )
    assert product_of_status(b"not json") == ""


def test_options() -> None:
    driver = OwncloudDriver.from_config(
        {
            "url": "https://example.org/owncloud/",
            "username": "a@b.c",
            "user": "u 1",
            "folder": "/Sci/Data",
        }
    )
    assert driver._base_url == "https://example.org/owncloud/remote.php/dav/files/u%201/Sci/Data"
    assert driver._base_path == "/owncloud/remote.php/dav/files/u 1/Sci/Data"
    with pytest.raises(ConfigError):
        OwncloudDriver.from_config({"url": "https://x/"})  # no user
    with pytest.raises(ConfigError):
        OwncloudDriver.from_config({"url": "https://x/", "username": "a", "folder": "relative"})
    with pytest.raises(ConfigError):
        OwncloudDriver.from_config({"url": "https://x/", "username": "a", "flavor": "seafile"})
