"""The ownCloud dialect around WebDAV: ``status.php`` and the OCS endpoints sync clients call.

ownCloud and Nextcloud desktop clients start at ``status.php`` (is this a server, which
version), read ``/ocs/v{1,2}.php/cloud/capabilities`` (checksums, chunking, polling) and
``/ocs/v{1,2}.php/cloud/user`` (the user id that names ``/remote.php/dav/files/<id>``). OCS answers
JSON or XML by ``format=``; v1 reports success as status code 100, v2 as 200.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from aiohttp import web

from corestore.errors import Unauthenticated
from corestore.webdav.auth import DavAuth, challenge

__all__ = ["routes"]

#: What we claim to be: an ownCloud 10 compatible server (the version sync clients check).
VERSION = {"major": 10, "minor": 11, "micro": 0, "string": "10.11.0", "edition": "Community"}
STATUS = {
    "installed": True,
    "maintenance": False,
    "needsDbUpgrade": False,
    "version": "10.11.0.0",
    "versionstring": "10.11.0",
    "edition": "Community",
    "productname": "corestore",
    "extendedSupport": False,
}
CAPABILITIES = {
    "core": {"pollinterval": 60, "webdav-root": "remote.php/webdav", "status": STATUS},
    # No "chunking": clients then upload every file with one streamed PUT.
    "dav": {"reports": []},
    "files": {
        "bigfilechunking": False,
        "undelete": False,
        "versioning": False,
        "blacklisted_files": [".htaccess"],
    },
    "checksums": {"supportedTypes": ["SHA1"], "preferredUploadType": "SHA1"},
}


def _ocs(request: web.Request, data: Any, status: int = 200, message: str = "OK") -> web.Response:
    v1 = "/ocs/v1.php/" in request.path
    code = 100 if v1 and status == 200 else status
    meta = {"status": "ok" if status == 200 else "failure", "statuscode": code, "message": message}
    if request.query.get("format", "xml").lower() == "json":
        return web.json_response(
            {"ocs": {"meta": meta, "data": data}}, status=200 if v1 else status
        )
    root = ET.Element("ocs")
    _to_xml(ET.SubElement(root, "meta"), meta)
    _to_xml(ET.SubElement(root, "data"), data)
    body = b'<?xml version="1.0"?>\n' + ET.tostring(root)
    return web.Response(
        status=200 if v1 else status, body=body, content_type="text/xml", charset="utf-8"
    )


def _to_xml(node: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _to_xml(ET.SubElement(node, str(key)), item)
    elif isinstance(value, list):
        for item in value:
            _to_xml(ET.SubElement(node, "element"), item)
    elif isinstance(value, bool):
        node.text = "1" if value else ""
    elif value is not None:
        node.text = str(value)


async def status(request: web.Request) -> web.Response:
    return web.json_response(STATUS)


def routes(auth: DavAuth) -> list[web.RouteDef]:
    async def capabilities(request: web.Request) -> web.Response:
        return _ocs(request, {"version": VERSION, "capabilities": CAPABILITIES})

    async def user(request: web.Request) -> web.Response:
        try:
            who = await auth.user(request)
        except Unauthenticated as exc:
            return challenge(exc.message)
        return _ocs(
            request,
            {
                "id": who.username,
                "display-name": who.display_name or who.username,
                "email": who.mail or None,
            },
        )

    out = [web.get("/status.php", status, name="status_php")]
    for version in ("v1", "v2"):
        out.append(
            web.get(
                f"/ocs/{version}.php/cloud/capabilities",
                capabilities,
                name=f"ocs_{version}_capabilities",
            )
        )
        out.append(web.get(f"/ocs/{version}.php/cloud/user", user, name=f"ocs_{version}_user"))
    return out
