"""The blocking half of the posix driver: every operation on the tree and the index.

:class:`PosixStore` methods do file-system and SQLite work, so they run in worker threads (the
async :class:`~corestore_posix.driver.PosixDriver` calls them through its executor). Each
mutating method runs inside one index transaction: it checks, changes the tree, records the
change, and commits only if the tree accepted it. Every tree access goes through
:class:`~corestore_posix.layout.Layout`, which walks paths without following links.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress

from corestore.errors import (
    AlreadyExists,
    ETagMismatch,
    InsufficientStorage,
    IsAFolder,
    MoveIntoItself,
    NotFound,
    PermissionDenied,
    translate_os_error,
)
from corestore.locks import (
    check_lock_for_write,
    check_lock_holder,
    check_new_lock,
    live_lock,
)
from corestore.paths import join_path, split_path
from corestore.resources import (
    Checksum,
    FileVersion,
    Grant,
    Grantee,
    Lock,
    Quota,
    RecycleItem,
    Reference,
    ResourceInfo,
    ResourceType,
    WriteOptions,
    guess_mime_type,
)
from corestore.streams import StreamDigest
from corestore_posix.index import TRASH_PREFIX, Index, Node, new_id
from corestore_posix.layout import Layout, lstat_at
from corestore_posix.options import PosixOptions
from corestore_posix.uploads import Upload

__all__ = ["PosixStore"]

Segments = tuple[str, ...]

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _stamp(st: os.stat_result) -> str:
    """What identifies one content of a file: a stored checksum is valid while this matches."""
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _same_etag(a: str, b: str) -> bool:
    """Compare etags ignoring the quotes HTTP clients may add or drop."""
    return a.strip().strip('"') == b.strip().strip('"')


class PosixStore:
    """The tree under ``options.root`` plus its index. Thread-safe; all methods block."""

    def __init__(self, options: PosixOptions) -> None:
        self.options = options
        self.layout = Layout(options.root)
        self.index = Index(self.layout.index, durable=options.fsync)

    def open(self) -> None:
        with translate_os_error("storage root"):
            self.layout.create()
            self.layout.clear_uploads()
        self.index.open()

    def close(self) -> None:
        self.index.close()
        self.layout.close()

    # -- resolution and description -----------------------------------------------------------

    def resolve(self, ref: Reference) -> Segments:
        """The validated segments a reference names (ids are looked up in the index)."""
        relative = split_path(ref.path)  # before the id lookup: an escape is refused as such
        if ref.resource_id is None:
            return relative
        with self.index.read():
            path = self.index.path_of(ref.resource_id)
        if path is None or path.startswith(TRASH_PREFIX):
            raise NotFound(f"no resource with id {ref.resource_id}")
        return split_path(path) + relative

    def _lstat(self, dir_fd: int, segments: Segments) -> os.stat_result:
        """``lstat`` of an existing regular file or folder. :raises NotFound: otherwise."""
        path = join_path(segments)
        st = lstat_at(dir_fd, segments[-1], path)
        if st is None or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise NotFound(f"not found: {path}")
        return st

    def _etag(self, node: Node, st: os.stat_result, size: int) -> str:
        digest = hashlib.sha1(f"{node.id}:{node.token}:{st.st_mtime_ns}:{size}".encode())
        return f'"{digest.hexdigest()[:32]}"'

    def _info(
        self,
        segments: Segments,
        st: os.stat_result,
        keys: Sequence[str] = (),
        node: Node | None = None,
        parent_id: str | None = None,
    ) -> ResourceInfo:
        """Describe a node from its ``lstat`` and its index row (created if new). Lock held."""
        path = join_path(segments)
        node = node or self.index.ensure(path)
        if segments and parent_id is None:
            parent_id = self.index.ensure(join_path(segments[:-1])).id
        is_dir = stat.S_ISDIR(st.st_mode)
        size = node.size if is_dir else st.st_size
        checksum = node.checksum if not is_dir and node.stamp == _stamp(st) else None
        return ResourceInfo(
            id=node.id,
            path=path,
            type=ResourceType.CONTAINER if is_dir else ResourceType.FILE,
            size=size,
            mtime=st.st_mtime,
            etag=self._etag(node, st, size),
            parent_id=parent_id,
            checksum=checksum,
            mime_type=guess_mime_type(segments[-1] if segments else "", is_dir),
            metadata=self.index.metadata(node.id, keys),
            lock=live_lock(self.index.lock(node.id)),
        )

    def stat(self, segments: Segments, keys: Sequence[str] = ()) -> ResourceInfo:
        with self.index.read():
            if not segments:
                with self.layout.folder(()) as fd:
                    return self._info((), os.fstat(fd), keys)
            with self.layout.folder(segments[:-1]) as dfd:
                return self._info(segments, self._lstat(dfd, segments), keys)

    # -- listing ------------------------------------------------------------------------------

    def open_listing(self, segments: Segments) -> tuple[int, Iterator[os.DirEntry[str]]]:
        """Open a folder for :meth:`list_page`. :raises NotAFolder: it is a file."""
        fd = self.layout.open_folder(segments)
        return fd, os.scandir(fd)

    def list_page(
        self,
        segments: Segments,
        entries: Iterator[os.DirEntry[str]],
        keys: Sequence[str],
        limit: int,
    ) -> list[ResourceInfo]:
        """Describe up to ``limit`` more children; an empty page means the listing is done.

        Links and special files are skipped: they are not part of the namespace (see layout).
        """
        found: list[tuple[Segments, os.stat_result]] = []
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
                found.append(((*segments, entry.name), st))
                if len(found) >= limit:
                    break
        if not found:
            return []
        with self.index.read():
            parent_id = self.index.ensure(join_path(segments)).id
            nodes = self.index.ensure_many([join_path(s) for s, _ in found])
            return [self._info(s, st, keys, nodes[join_path(s)], parent_id) for s, st in found]

    # -- create, delete, move -----------------------------------------------------------------

    def _sync_dir(self, fd: int) -> None:
        """Make a rename or create in this folder durable (with the ``fsync`` option)."""
        if self.options.fsync:
            os.fsync(fd)

    def _sync_path(self, folder: os.PathLike[str]) -> None:
        """:meth:`_sync_dir` for one of the driver's own state folders."""
        if self.options.fsync:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def create_container(self, segments: Segments) -> ResourceInfo:
        if not segments:
            raise AlreadyExists("/ already exists")
        path = join_path(segments)
        with self.index.transaction(), self.layout.parent_of(segments) as dfd:
            if lstat_at(dfd, segments[-1], path) is not None:
                raise AlreadyExists(f"already exists: {path}")
            with translate_os_error(path):
                os.mkdir(segments[-1], dir_fd=dfd)
            self._sync_dir(dfd)
            self.index.drop_subtree(path)  # rows of a folder removed behind the driver's back
            self.index.changed(path)
            return self._info(segments, self._lstat(dfd, segments))

    def touch(self, segments: Segments) -> ResourceInfo:
        if not segments:
            raise AlreadyExists("/ already exists")
        path = join_path(segments)
        with self.index.transaction(), self.layout.parent_of(segments) as dfd:
            if lstat_at(dfd, segments[-1], path) is not None:
                raise AlreadyExists(f"already exists: {path}")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            with translate_os_error(path):
                os.close(os.open(segments[-1], flags, 0o666, dir_fd=dfd))
            self._sync_dir(dfd)
            st = self._lstat(dfd, segments)
            self.index.drop_subtree(path)
            checksum = StreamDigest(self.options.checksum_type).verify()
            node = self.index.set_content(path, size=0, checksum=checksum, stamp=_stamp(st))
            return self._info(segments, st, node=node)

    def _check_locks_below(self, path: str, lock_id: str | None) -> None:
        """A delete or move needs the id of every live lock in the subtree it takes along."""
        for locked_path, lock in self.index.locks_below(path):
            check_lock_for_write(lock, lock_id, locked_path)

    def delete(self, segments: Segments, lock_id: str | None) -> None:
        """Move a file or folder to the recycle bin (O(1): a rename and a re-key)."""
        if not segments:
            raise PermissionDenied("the root cannot be deleted")
        path = join_path(segments)
        with self.index.transaction(), self.layout.folder(segments[:-1]) as dfd:
            st = self._lstat(dfd, segments)
            node = self.index.ensure(path)
            self._check_locks_below(path, lock_id)
            key = new_id()
            with translate_os_error(path):
                os.rename(segments[-1], self.layout.recycle / key, src_dir_fd=dfd)
            self._sync_dir(dfd)
            self._sync_path(self.layout.recycle)
            is_dir = stat.S_ISDIR(st.st_mode)
            self.index.add_recycle_item(
                RecycleItem(
                    key=key,
                    path=path,
                    type=ResourceType.CONTAINER if is_dir else ResourceType.FILE,
                    size=node.size if is_dir else st.st_size,
                    deletion_time=time.time(),
                )
            )
            self.index.drop_locks_below(path)
            self.index.propagate(path, -node.size)
            self.index.rekey(path, TRASH_PREFIX + key)

    def move(self, source: Segments, destination: Segments, lock_id: str | None) -> ResourceInfo:
        if not source:
            raise PermissionDenied("the root cannot be moved")
        src, dst = join_path(source), join_path(destination)
        if len(destination) > len(source) and destination[: len(source)] == source:
            raise MoveIntoItself(f"cannot move {src} into itself ({dst})")
        if not destination:
            raise AlreadyExists("/ already exists")
        with (
            self.index.transaction(),
            self.layout.folder(source[:-1]) as sfd,
            self.layout.parent_of(destination) as dfd,
        ):
            self._lstat(sfd, source)
            if lstat_at(dfd, destination[-1], dst) is not None:
                raise AlreadyExists(f"already exists: {dst}")
            node = self.index.ensure(src)
            self._check_locks_below(src, lock_id)
            with translate_os_error(src):
                os.rename(source[-1], destination[-1], src_dir_fd=sfd, dst_dir_fd=dfd)
            self._sync_dir(sfd)
            self._sync_dir(dfd)
            self.index.propagate(src, -node.size)
            self.index.rekey(src, dst)
            self.index.propagate(dst, node.size)
            return self._info(destination, self._lstat(dfd, destination))

    # -- reading ------------------------------------------------------------------------------

    def open_file(self, segments: Segments) -> tuple[int, int]:
        """Open a file for reading: ``(fd, size)``. The caller closes the fd.

        The fd pins the content: a write that commits meanwhile replaces the name, not the bytes
        this reader sees.
        """
        if not segments:
            raise IsAFolder("/ is a folder")
        path = join_path(segments)
        with self.layout.folder(segments[:-1]) as dfd:
            try:
                fd = os.open(segments[-1], _READ_FLAGS, dir_fd=dfd)
            except OSError:
                lstat_at(dfd, segments[-1], path)  # a link is a PathEscape, not an ELOOP error
                with translate_os_error(path):
                    raise
        return self._regular_file(fd, path)

    @staticmethod
    def _regular_file(fd: int, path: str) -> tuple[int, int]:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsAFolder(f"is a folder: {path}")
            raise NotFound(f"not found: {path}")
        return fd, st.st_size

    # -- writing ------------------------------------------------------------------------------

    def _check_write(
        self, dfd: int, segments: Segments, options: WriteOptions
    ) -> tuple[os.stat_result | None, Node | None, int | None]:
        """The preconditions of a write; returns the current file, its row and the byte limit."""
        path = join_path(segments)
        st = lstat_at(dfd, segments[-1], path)
        node = None
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                raise IsAFolder(f"is a folder: {path}")
            if not stat.S_ISREG(st.st_mode):
                raise PermissionDenied(f"not a regular file: {path}")
            if options.if_not_exist:
                raise AlreadyExists(f"already exists: {path}")
            node = self.index.ensure(path)
            check_lock_for_write(self.index.lock(node.id), options.lock_id, path)
        if options.if_match is not None:
            if (
                st is None
                or node is None
                or not _same_etag(options.if_match, self._etag(node, st, st.st_size))
            ):
                raise ETagMismatch(f"etag does not match: {path}")
        limit = None
        if self.options.quota:
            used = self.index.ensure("/").size
            limit = self.options.quota - used + (node.size if node else 0)
            if limit < 0 or (options.expected_size is not None and options.expected_size > limit):
                raise InsufficientStorage(f"quota exceeded: {path}")
        return st, node, limit

    def begin_write(self, segments: Segments, options: WriteOptions) -> Upload:
        """Check what can be checked before any byte arrives, then create the temp file."""
        if not segments:
            raise IsAFolder("/ is a folder")
        with self.index.read(), self.layout.parent_of(segments) as dfd:
            _, _, limit = self._check_write(dfd, segments, options)
        return Upload(self.layout, StreamDigest(self.options.checksum_type, options), limit)

    def commit_write(
        self, segments: Segments, upload: Upload, checksum: Checksum | None, options: WriteOptions
    ) -> ResourceInfo:
        """Check again (the world moved while bytes streamed), keep the old version, rename."""
        st = upload.finish(fsync=self.options.fsync, mtime=options.mtime)
        path = join_path(segments)
        with self.index.transaction(), self.layout.parent_of(segments) as dfd:
            old, node, limit = self._check_write(dfd, segments, options)
            if limit is not None and st.st_size > limit:
                raise InsufficientStorage(f"quota exceeded: {path}")
            if old is not None and node is not None and options.keep_version:
                self._keep_version(dfd, segments, node, old)
            with translate_os_error(path):
                os.replace(upload.path, segments[-1], dst_dir_fd=dfd)
            upload.committed = True
            self._sync_dir(dfd)
            if old is None:
                self.index.drop_subtree(path)
            node = self.index.set_content(
                path, size=st.st_size, checksum=checksum, stamp=_stamp(st)
            )
            return self._info(segments, st, node=node)

    # -- versions -----------------------------------------------------------------------------

    def _keep_version(self, dfd: int, segments: Segments, node: Node, st: os.stat_result) -> None:
        """Hard-link the current content into ``versions/<id>/``: no copy, and safe because the
        driver never writes a file in place (a write always renames a new inode over the name)."""
        key = new_id()
        folder = self.layout.versions / node.id
        with translate_os_error(join_path(segments)):
            folder.mkdir(exist_ok=True)
            os.link(segments[-1], folder / key, src_dir_fd=dfd, follow_symlinks=False)
            self._sync_path(folder)
        checksum = node.checksum if node.stamp == _stamp(st) else None
        version = FileVersion(key, st.st_size, st.st_mtime, self._etag(node, st, st.st_size))
        self.index.add_version(node.id, version, checksum)

    def _file_node(self, dfd: int, segments: Segments) -> tuple[os.stat_result, Node]:
        st = self._lstat(dfd, segments)
        if stat.S_ISDIR(st.st_mode):
            raise IsAFolder(f"folders have no versions: {join_path(segments)}")
        return st, self.index.ensure(join_path(segments))

    def list_versions(self, segments: Segments) -> list[FileVersion]:
        if not segments:
            return []
        with self.index.read(), self.layout.folder(segments[:-1]) as dfd:
            st = self._lstat(dfd, segments)
            if stat.S_ISDIR(st.st_mode):
                return []
            return self.index.versions(self.index.ensure(join_path(segments)).id)

    def open_version(self, segments: Segments, key: str) -> tuple[int, int]:
        if not segments:
            raise NotFound(f"no version {key}")
        with self.index.read(), self.layout.folder(segments[:-1]) as dfd:
            _, node = self._file_node(dfd, segments)
            if self.index.version(node.id, key) is None:
                raise NotFound(f"no version {key} of {join_path(segments)}")
            with translate_os_error(f"version {key}"):
                fd = os.open(self.layout.versions / node.id / key, _READ_FLAGS)
        return self._regular_file(fd, f"version {key}")

    def restore_version(self, segments: Segments, key: str, lock_id: str | None) -> None:
        """The version becomes current (renamed into place); the current content a version."""
        if not segments:
            raise NotFound(f"no version {key}")
        path = join_path(segments)
        with self.index.transaction(), self.layout.folder(segments[:-1]) as dfd:
            st, node = self._file_node(dfd, segments)
            check_lock_for_write(self.index.lock(node.id), lock_id, path)
            found = self.index.version(node.id, key)
            if found is None:
                raise NotFound(f"no version {key} of {path}")
            self._keep_version(dfd, segments, node, st)
            with translate_os_error(path):
                os.replace(self.layout.versions / node.id / key, segments[-1], dst_dir_fd=dfd)
            self._sync_dir(dfd)
            self.index.drop_version(node.id, key)
            restored = self._lstat(dfd, segments)
            self.index.set_content(
                path, size=restored.st_size, checksum=found[1], stamp=_stamp(restored)
            )

    # -- recycle bin --------------------------------------------------------------------------

    def list_recycle(self) -> list[RecycleItem]:
        with self.index.read():
            return self.index.recycle_items()

    def restore_recycle_item(self, key: str, target: Segments | None) -> ResourceInfo:
        with self.index.transaction():
            item = self.index.recycle_item(key)
            if item is None:
                raise NotFound(f"no recycle item {key}")
            segments = split_path(item.path) if target is None else target
            if not segments:
                raise AlreadyExists("/ already exists")
            path = join_path(segments)
            with self.layout.parent_of(segments) as dfd:
                if lstat_at(dfd, segments[-1], path) is not None:
                    raise AlreadyExists(f"already exists: {path}")
                with translate_os_error(path):
                    os.rename(self.layout.recycle / key, segments[-1], dst_dir_fd=dfd)
                self._sync_dir(dfd)
                self._sync_path(self.layout.recycle)
                self.index.drop_recycle_item(key)
                self.index.rekey(TRASH_PREFIX + key, path)
                node = self.index.ensure(path)
                self.index.propagate(path, node.size)
                self.index.changed(path)
                return self._info(segments, self._lstat(dfd, segments))

    def purge_recycle(self, key: str | None) -> None:
        """Forget items in one transaction, then delete their bytes outside the index lock.

        The bytes are first renamed into ``uploads/`` (cleared at the next open), so a crash
        mid-delete leaves nothing reachable behind.
        """
        doomed = []
        with self.index.transaction():
            if key is None:
                items = self.index.recycle_items()
            else:
                item = self.index.recycle_item(key)
                if item is None:
                    raise NotFound(f"no recycle item {key}")
                items = [item]
            for item in items:
                for node_id in self.index.drop_subtree(TRASH_PREFIX + item.key):
                    doomed.append(self._retire(self.layout.versions / node_id))
                doomed.append(self._retire(self.layout.recycle / item.key))
                self.index.drop_recycle_item(item.key)
        for path in doomed:
            if path is not None:
                _remove(path)

    def _retire(self, path: os.PathLike[str]) -> os.PathLike[str] | None:
        """Rename ``path`` into uploads/ for deletion; ``None`` if it does not exist."""
        target = self.layout.uploads / f"purge-{new_id()}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        return target

    # -- metadata, locks, grants --------------------------------------------------------------

    def _node(self, segments: Segments) -> Node:
        """The row of an existing resource. Index lock held."""
        if segments:
            with self.layout.folder(segments[:-1]) as dfd:
                self._lstat(dfd, segments)
        return self.index.ensure(join_path(segments))

    def set_metadata(
        self, segments: Segments, values: Mapping[str, str], lock_id: str | None
    ) -> None:
        with self.index.transaction():
            node = self._node(segments)
            check_lock_for_write(self.index.lock(node.id), lock_id, join_path(segments))
            self.index.set_metadata(node.id, values)
            self.index.changed(join_path(segments))

    def unset_metadata(self, segments: Segments, keys: Sequence[str], lock_id: str | None) -> None:
        with self.index.transaction():
            node = self._node(segments)
            check_lock_for_write(self.index.lock(node.id), lock_id, join_path(segments))
            self.index.unset_metadata(node.id, keys)
            self.index.changed(join_path(segments))

    def set_lock(self, segments: Segments, lock: Lock) -> None:
        with self.index.transaction():
            node = self._node(segments)
            check_new_lock(self.index.lock(node.id), join_path(segments))
            self.index.put_lock(node.id, lock)

    def get_lock(self, segments: Segments) -> Lock:
        with self.index.read():
            lock = live_lock(self.index.lock(self._node(segments).id))
        if lock is None:
            raise NotFound(f"not locked: {join_path(segments)}")
        return lock

    def refresh_lock(self, segments: Segments, lock: Lock, existing_lock_id: str | None) -> None:
        with self.index.transaction():
            node = self._node(segments)
            current = check_lock_holder(
                self.index.lock(node.id), lock, join_path(segments), existing_lock_id
            )
            self.index.put_lock(
                node.id,
                Lock(
                    lock_id=lock.lock_id,
                    type=lock.type,
                    user=lock.user,
                    app_name=lock.app_name,
                    expiration=lock.expiration,
                    creation_time=current.creation_time,
                ),
            )

    def unlock(self, segments: Segments, lock: Lock) -> None:
        with self.index.transaction():
            node = self._node(segments)
            check_lock_holder(self.index.lock(node.id), lock, join_path(segments))
            self.index.drop_lock(node.id)

    def add_grant(self, segments: Segments, grant: Grant) -> None:
        with self.index.transaction():
            node = self._node(segments)
            if self.index.has_grant(node.id, grant.grantee):
                raise AlreadyExists(
                    f"{grant.grantee.id} already has a grant on {join_path(segments)}"
                )
            self.index.put_grant(node.id, grant)

    def update_grant(self, segments: Segments, grant: Grant) -> None:
        with self.index.transaction():
            node = self._node(segments)
            if not self.index.has_grant(node.id, grant.grantee):
                raise NotFound(f"{grant.grantee.id} has no grant on {join_path(segments)}")
            self.index.put_grant(node.id, grant)

    def remove_grant(self, segments: Segments, grantee: Grantee) -> None:
        with self.index.transaction():
            node = self._node(segments)
            if not self.index.has_grant(node.id, grantee):
                raise NotFound(f"{grantee.id} has no grant on {join_path(segments)}")
            self.index.drop_grant(node.id, grantee)

    def list_grants(self, segments: Segments) -> list[Grant]:
        with self.index.read():
            return self.index.grants(self._node(segments).id)

    # -- quota --------------------------------------------------------------------------------

    def get_quota(self) -> Quota:
        with self.index.read():
            used = self.index.ensure("/").size
        total = self.options.quota
        if not total:
            fs = os.statvfs(self.layout.files)
            total = fs.f_blocks * fs.f_frsize
        return Quota(total=total, used=used)


def _remove(path: os.PathLike[str]) -> None:
    """Delete a retired file or folder for good (links inside are removed, never followed)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            os.unlink(path)
