"""The CS3 servicers: ``ProviderAPI`` (all 34 RPCs) and the storage/auth part of ``GatewayAPI``.

Both share request types, so :class:`StorageRPCs` implements each storage RPC once and both
servicers inherit it. Each method only translates (``convert``) and delegates to the
:class:`~corestore.service.StorageService`; errors are handled by the ``@rpc`` decorator.
"""

from __future__ import annotations

from typing import Any

from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
from cs3.gateway.v1beta1 import resources_pb2 as gwr
from cs3.storage.provider.v1beta1 import provider_api_pb2 as sp
from cs3.storage.provider.v1beta1 import resources_pb2 as spr
from cs3.types.v1beta1 import types_pb2

from corestore.errors import InvalidArgument, Unimplemented
from corestore.grpc import convert
from corestore.grpc.rpc import ok, rpc
from corestore.ocm.grpc import OcmRPCs
from corestore.resources import WriteOptions
from corestore.service import WireRef
from corestore.state import ServerState
from corestore.users import User

__all__ = ["GatewayServicer", "ProviderServicer", "StorageRPCs"]

_CHECKSUMS = (
    ("sha1", spr.RESOURCE_CHECKSUM_TYPE_SHA1, 100),
    ("md5", spr.RESOURCE_CHECKSUM_TYPE_MD5, 200),
    ("adler32", spr.RESOURCE_CHECKSUM_TYPE_ADLER32, 300),
)


def _ref(request: Any, field: str = "ref") -> WireRef:
    if not request.HasField(field):
        raise InvalidArgument(f"missing {field}")
    return convert.ref_from_pb(getattr(request, field))


def _lock_id(request: Any) -> str | None:
    return request.lock_id or None


class StorageRPCs:
    """The RPCs ``ProviderAPI`` and ``GatewayAPI`` have in common."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    @property
    def _svc(self) -> Any:
        return self.state.service

    def _info(self, entry: Any) -> spr.ResourceInfo:
        return convert.entry_to_pb(entry, self.state.idp)

    # -- namespace ----------------------------------------------------------------------------

    @rpc(sp.StatResponse)
    async def Stat(self, request: sp.StatRequest, context: Any, user: User) -> sp.StatResponse:
        entry = await self._svc.stat(user, _ref(request), list(request.arbitrary_metadata_keys))
        return sp.StatResponse(info=self._info(entry))

    @rpc(sp.ListContainerResponse)
    async def ListContainer(
        self, request: sp.ListContainerRequest, context: Any, user: User
    ) -> Any:
        infos = [
            self._info(e)
            async for e in self._svc.list_container(
                user, _ref(request), list(request.arbitrary_metadata_keys)
            )
        ]
        return sp.ListContainerResponse(infos=infos)

    @rpc(sp.ListContainerStreamResponse)
    async def ListContainerStream(
        self, request: sp.ListContainerStreamRequest, context: Any, user: User
    ) -> Any:
        async for entry in self._svc.list_container(
            user, _ref(request), list(request.arbitrary_metadata_keys)
        ):
            yield sp.ListContainerStreamResponse(status=ok(), info=self._info(entry))

    @rpc(sp.CreateContainerResponse)
    async def CreateContainer(
        self, request: sp.CreateContainerRequest, context: Any, user: User
    ) -> Any:
        await self._svc.create_container(user, _ref(request))
        return sp.CreateContainerResponse()

    @rpc(sp.TouchFileResponse)
    async def TouchFile(self, request: sp.TouchFileRequest, context: Any, user: User) -> Any:
        await self._svc.touch(user, _ref(request), _lock_id(request))
        return sp.TouchFileResponse()

    @rpc(sp.DeleteResponse)
    async def Delete(self, request: sp.DeleteRequest, context: Any, user: User) -> Any:
        await self._svc.delete(user, _ref(request), _lock_id(request))
        return sp.DeleteResponse()

    @rpc(sp.MoveResponse)
    async def Move(self, request: sp.MoveRequest, context: Any, user: User) -> Any:
        await self._svc.move(
            user, _ref(request, "source"), _ref(request, "destination"), _lock_id(request)
        )
        return sp.MoveResponse()

    @rpc(sp.GetPathResponse)
    async def GetPath(self, request: sp.GetPathRequest, context: Any, user: User) -> Any:
        rid = request.resource_id
        if not rid.opaque_id:
            raise InvalidArgument("missing resource_id")
        path = await self._svc.get_path(user, WireRef(".", rid.storage_id, rid.opaque_id))
        return sp.GetPathResponse(path=path)

    @rpc(sp.GetHomeResponse)
    async def GetHome(self, request: sp.GetHomeRequest, context: Any, user: User) -> Any:
        return sp.GetHomeResponse(path=self._svc.home_path(user))

    @rpc(sp.CreateHomeResponse)
    async def CreateHome(self, request: sp.CreateHomeRequest, context: Any, user: User) -> Any:
        await self._svc.create_home(user)
        return sp.CreateHomeResponse()

    @rpc(sp.GetQuotaResponse)
    async def GetQuota(self, request: Any, context: Any, user: User) -> Any:
        quota = await self._svc.get_quota(user, _ref(request))
        return sp.GetQuotaResponse(total_bytes=quota.total, used_bytes=quota.used)

    @rpc(sp.CreateSymlinkResponse)
    async def CreateSymlink(self, request: Any, context: Any, user: User) -> Any:
        raise Unimplemented("symlinks are not part of the corestore driver contract")

    @rpc(sp.SetImmutableResponse)
    async def SetImmutable(self, request: Any, context: Any, user: User) -> Any:
        raise Unimplemented("immutable resources are not supported")

    @rpc(sp.UnsetImmutableResponse)
    async def UnsetImmutable(self, request: Any, context: Any, user: User) -> Any:
        raise Unimplemented("immutable resources are not supported")

    # -- metadata and locks -------------------------------------------------------------------

    @rpc(sp.SetArbitraryMetadataResponse)
    async def SetArbitraryMetadata(self, request: Any, context: Any, user: User) -> Any:
        metadata = dict(request.arbitrary_metadata.metadata)
        if not metadata:
            raise InvalidArgument("no metadata to set")
        await self._svc.set_metadata(user, _ref(request), metadata, _lock_id(request))
        return sp.SetArbitraryMetadataResponse()

    @rpc(sp.UnsetArbitraryMetadataResponse)
    async def UnsetArbitraryMetadata(self, request: Any, context: Any, user: User) -> Any:
        await self._svc.unset_metadata(
            user, _ref(request), list(request.arbitrary_metadata_keys), _lock_id(request)
        )
        return sp.UnsetArbitraryMetadataResponse()

    @rpc(sp.SetLockResponse)
    async def SetLock(self, request: Any, context: Any, user: User) -> Any:
        await self._svc.set_lock(user, _ref(request), convert.lock_from_pb(request.lock))
        return sp.SetLockResponse()

    @rpc(sp.GetLockResponse)
    async def GetLock(self, request: Any, context: Any, user: User) -> Any:
        lock = await self._svc.get_lock(user, _ref(request))
        return sp.GetLockResponse(lock=convert.lock_to_pb(lock, self.state.idp))

    @rpc(sp.RefreshLockResponse)
    async def RefreshLock(self, request: Any, context: Any, user: User) -> Any:
        await self._svc.refresh_lock(
            user,
            _ref(request),
            convert.lock_from_pb(request.lock),
            request.existing_lock_id or None,
        )
        return sp.RefreshLockResponse()

    @rpc(sp.UnlockResponse)
    async def Unlock(self, request: Any, context: Any, user: User) -> Any:
        await self._svc.unlock(user, _ref(request), convert.lock_from_pb(request.lock))
        return sp.UnlockResponse()

    # -- versions and recycle bin -------------------------------------------------------------

    @rpc(sp.ListFileVersionsResponse)
    async def ListFileVersions(self, request: Any, context: Any, user: User) -> Any:
        versions = await self._svc.list_versions(user, _ref(request))
        return sp.ListFileVersionsResponse(
            versions=[convert.file_version_to_pb(v) for v in versions]
        )

    @rpc(sp.RestoreFileVersionResponse)
    async def RestoreFileVersion(self, request: Any, context: Any, user: User) -> Any:
        if not request.key:
            raise InvalidArgument("missing version key")
        await self._svc.restore_version(user, _ref(request), request.key, _lock_id(request))
        return sp.RestoreFileVersionResponse()

    def _recycle_items(self, request: Any, user: User) -> Any:
        from_ts = request.from_ts.seconds if request.HasField("from_ts") else None
        to_ts = request.to_ts.seconds if request.HasField("to_ts") else None
        return self._svc.list_recycle(user, _ref(request), request.key, from_ts, to_ts)

    @rpc(sp.ListRecycleResponse)
    async def ListRecycle(self, request: Any, context: Any, user: User) -> Any:
        items = [
            convert.recycle_item_to_pb(item) async for _, item in self._recycle_items(request, user)
        ]
        return sp.ListRecycleResponse(recycle_items=items)

    @rpc(sp.ListRecycleStreamResponse)
    async def ListRecycleStream(self, request: Any, context: Any, user: User) -> Any:
        async for _, item in self._recycle_items(request, user):
            yield sp.ListRecycleStreamResponse(
                status=ok(), recycle_item=convert.recycle_item_to_pb(item)
            )

    @rpc(sp.RestoreRecycleItemResponse)
    async def RestoreRecycleItem(self, request: Any, context: Any, user: User) -> Any:
        if not request.key:
            raise InvalidArgument("missing recycle item key")
        restore_to = _ref(request, "restore_ref") if request.HasField("restore_ref") else None
        await self._svc.restore_recycle_item(user, _ref(request), request.key, restore_to)
        return sp.RestoreRecycleItemResponse()

    @rpc(sp.PurgeRecycleResponse)
    async def PurgeRecycle(self, request: Any, context: Any, user: User) -> Any:
        await self._svc.purge_recycle(user, _ref(request), request.key or None)
        return sp.PurgeRecycleResponse()

    # -- data transfer ------------------------------------------------------------------------

    async def _upload_protocols(
        self, request: sp.InitiateFileUploadRequest, user: User
    ) -> list[tuple[str, str, str]]:
        """``(protocol, endpoint, transfer token)`` for ``simple`` and ``tus``."""
        length = convert.opaque_get(request.opaque, "Upload-Length")
        mtime = convert.opaque_get(request.opaque, "X-OC-Mtime")
        try:
            options = WriteOptions(
                expected_size=int(length) if length not in (None, "") else None,
                checksum=convert.checksum_from_opaque(request.opaque),
                if_match=request.if_match or None,
                if_not_exist=request.if_not_exist,
                lock_id=_lock_id(request),
                mtime=float(mtime) if mtime else None,
            )
        except ValueError as exc:
            raise InvalidArgument(f"bad upload option: {exc}") from None
        if options.expected_size is not None and options.expected_size < 0:
            raise InvalidArgument("Upload-Length must not be negative")
        _, target = await self._svc.prepare_upload(user, _ref(request), options)
        token = self.state.tokens.mint_transfer(user.username, "upload", target)
        base = self.state.data_url
        return [("simple", f"{base}/simple/{token}", token), ("tus", f"{base}/tus/{token}", token)]

    async def _download_protocols(self, request: Any, user: User) -> list[tuple[str, str, str]]:
        version = convert.opaque_get(request.opaque, "version_key")
        target = await self._svc.prepare_download(user, _ref(request), version)
        token = self.state.tokens.mint_transfer(user.username, "download", target)
        return [("simple", f"{self.state.data_url}/simple/{token}", token)]

    @staticmethod
    def _available_checksums() -> list[spr.ResourceChecksumPriority]:
        return [spr.ResourceChecksumPriority(type=t, priority=p) for _, t, p in _CHECKSUMS]


class ProviderServicer(StorageRPCs):
    """``cs3.storage.provider.v1beta1.ProviderAPI``: the 34 RPCs."""

    @rpc(sp.InitiateFileUploadResponse)
    async def InitiateFileUpload(self, request: Any, context: Any, user: User) -> Any:
        protocols = [
            spr.FileUploadProtocol(
                protocol=name,
                upload_endpoint=url,
                expose=True,
                available_checksums=self._available_checksums(),
                opaque=_token_opaque(token),
            )
            for name, url, token in await self._upload_protocols(request, user)
        ]
        return sp.InitiateFileUploadResponse(protocols=protocols)

    @rpc(sp.InitiateFileDownloadResponse)
    async def InitiateFileDownload(self, request: Any, context: Any, user: User) -> Any:
        protocols = [
            spr.FileDownloadProtocol(
                protocol=name, download_endpoint=url, expose=True, opaque=_token_opaque(token)
            )
            for name, url, token in await self._download_protocols(request, user)
        ]
        return sp.InitiateFileDownloadResponse(protocols=protocols)

    @rpc(sp.AddGrantResponse)
    async def AddGrant(self, request: Any, context: Any, user: User) -> Any:
        await self._svc.add_grant(user, _ref(request), convert.grant_from_pb(request.grant))
        return sp.AddGrantResponse()

    @rpc(sp.UpdateGrantResponse)
    async def UpdateGrant(self, request: Any, context: Any, user: User) -> Any:
        await self._svc.update_grant(user, _ref(request), convert.grant_from_pb(request.grant))
        return sp.UpdateGrantResponse()

    @rpc(sp.RemoveGrantResponse)
    async def RemoveGrant(self, request: Any, context: Any, user: User) -> Any:
        await self._svc.remove_grant(
            user, _ref(request), convert.grantee_from_pb(request.grant.grantee)
        )
        return sp.RemoveGrantResponse()

    @rpc(sp.DenyGrantResponse)
    async def DenyGrant(self, request: Any, context: Any, user: User) -> Any:
        await self._svc.deny_grant(user, _ref(request), convert.grantee_from_pb(request.grantee))
        return sp.DenyGrantResponse()

    @rpc(sp.ListGrantsResponse)
    async def ListGrants(self, request: Any, context: Any, user: User) -> Any:
        grants = await self._svc.list_grants(user, _ref(request))
        return sp.ListGrantsResponse(
            grants=[convert.grant_to_pb(g, self.state.idp) for g in grants]
        )

    @rpc(sp.CreateReferenceResponse)
    async def CreateReference(self, request: Any, context: Any, user: User) -> Any:
        raise Unimplemented("references to other storages are not supported")


class GatewayServicer(StorageRPCs, OcmRPCs):
    """The storage and authentication part of ``cs3.gateway.v1beta1.GatewayAPI``."""

    @rpc(gw.AuthenticateResponse, public=True)
    async def Authenticate(self, request: gw.AuthenticateRequest, context: Any, user: None) -> Any:
        if request.type != "basic":
            raise InvalidArgument(f"unsupported authentication type {request.type!r}; use 'basic'")
        authenticated = await self.state.users.authenticate(
            request.client_id, request.client_secret
        )
        if self._svc.mounts.home is not None:
            await self._svc.create_home(authenticated)
        return gw.AuthenticateResponse(
            token=self.state.tokens.mint_access(authenticated.username),
            user=convert.user_to_pb(authenticated, self.state.idp),
        )

    @rpc(gw.WhoAmIResponse, public=True)
    async def WhoAmI(self, request: gw.WhoAmIRequest, context: Any, user: None) -> Any:
        who = await self.state.user_for_token(request.token)
        return gw.WhoAmIResponse(user=convert.user_to_pb(who, self.state.idp))

    @rpc(gw.ListAuthProvidersResponse, public=True)
    async def ListAuthProviders(self, request: Any, context: Any, user: None) -> Any:
        return gw.ListAuthProvidersResponse(types=["basic"])

    @rpc(gw.InitiateFileUploadResponse)
    async def InitiateFileUpload(self, request: Any, context: Any, user: User) -> Any:
        protocols = [
            gwr.FileUploadProtocol(
                protocol=name,
                upload_endpoint=url,
                token=token,
                available_checksums=self._available_checksums(),
            )
            for name, url, token in await self._upload_protocols(request, user)
        ]
        return gw.InitiateFileUploadResponse(protocols=protocols)

    @rpc(gw.InitiateFileDownloadResponse)
    async def InitiateFileDownload(self, request: Any, context: Any, user: User) -> Any:
        protocols = [
            gwr.FileDownloadProtocol(protocol=name, download_endpoint=url, token=token)
            for name, url, token in await self._download_protocols(request, user)
        ]
        return gw.InitiateFileDownloadResponse(protocols=protocols)


def _token_opaque(token: str) -> Any:
    """The provider protocol types have no token field; Reva clients read it from the opaque."""
    return types_pb2.Opaque(
        map={"X-Reva-Transfer": types_pb2.OpaqueEntry(decoder="plain", value=token.encode())}
    )
