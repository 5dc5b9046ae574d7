"""The storage registry: which mounted driver serves a reference, and under which names.

Every mount has a path in the global namespace (``/home``) and a storage id (``home``). A
reference reaches its driver in one of two ways:

* an absolute path is routed to the mount with the longest matching path prefix, and the prefix
  is stripped (``/home/einstein/a`` -> driver path ``/einstein/a``);
* a resource id is routed by its ``storage_id``; its ``opaque_id`` is the driver's own id.

On the way back, driver paths get the prefix again and driver ids become
``ResourceId{storage_id=mount id, opaque_id=driver id, space_id=mount id}`` (done in
``corestore.grpc.convert``). Paths that are strict ancestors of mount points (``/`` when the only
mount is ``/home``) form a read-only virtual folder listing the mounts below them.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from corestore.driver import StorageDriver
from corestore.errors import CorestoreError, InvalidPath, NotFound
from corestore.paths import join_path, split_path
from corestore.plugins import DriverRegistry
from corestore.resources import Reference
from corestore.serverconfig import MountConfig

__all__ = ["Mount", "MountTable", "Routed"]

log = logging.getLogger(__name__)


_PATH_IN_MESSAGE = re.compile(r"(?:^|(?<=[\s:'\"(]))/[^\s'\"),]*")


class _GlobalErrors:
    """A driver seen from the server: errors name global paths, not the driver's own.

    Drivers report ``not found: /einstein/x``; a client asked for ``/home/einstein/x``. Every
    coroutine and async generator of the driver is wrapped so that the paths in the messages of
    the errors it raises get the mount prefix. Everything else passes through.
    """

    def __init__(self, driver: StorageDriver, prefix: str) -> None:
        self._driver = driver
        self._prefix = prefix

    def _globalize(self, exc: CorestoreError) -> None:
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (_PATH_IN_MESSAGE.sub(lambda m: self._prefix + m.group(0), exc.args[0]),)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._driver, name)
        if inspect.isasyncgenfunction(attr):

            @functools.wraps(attr)
            async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                try:
                    async for item in attr(*args, **kwargs):
                        yield item
                except CorestoreError as exc:
                    self._globalize(exc)
                    raise

            return stream
        if inspect.iscoroutinefunction(attr):

            @functools.wraps(attr)
            async def call(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await attr(*args, **kwargs)
                except CorestoreError as exc:
                    self._globalize(exc)
                    raise

            return call
        return attr


@dataclass(frozen=True)
class Mount:
    path: str
    id: str
    driver: StorageDriver
    home: bool = False

    @property
    def segments(self) -> tuple[str, ...]:
        return split_path(self.path)

    def global_path(self, driver_path: str) -> str:
        """The path in the global namespace of a driver path."""
        return join_path(self.segments + split_path(driver_path))

    @functools.cached_property
    def client(self) -> StorageDriver:
        """The driver as the server calls it: its errors name global paths."""
        prefix = join_path(self.segments) if self.segments else ""
        return _GlobalErrors(self.driver, prefix)  # type: ignore[return-value]


@dataclass(frozen=True)
class Routed:
    """A reference resolved to its mount, in the driver's terms."""

    mount: Mount
    ref: Reference

    @property
    def driver(self) -> StorageDriver:
        return self.mount.client


class MountTable:
    """The mounts of a running server; opens and closes their drivers."""

    def __init__(self, mounts: Iterable[Mount]) -> None:
        self.mounts = sorted(mounts, key=lambda m: len(m.segments), reverse=True)
        self._by_id = {m.id: m for m in self.mounts}
        self.home = next((m for m in self.mounts if m.home), None)

    @classmethod
    def from_config(cls, configs: Iterable[MountConfig], registry: DriverRegistry) -> MountTable:
        mounts = []
        for cfg in configs:
            driver = registry.get(cfg.driver).from_config(cfg.options)
            mounts.append(Mount(path=cfg.path, id=cfg.id, driver=driver, home=cfg.home))
        return cls(mounts)

    async def open(self) -> None:
        opened: list[Mount] = []
        try:
            for mount in self.mounts:
                await mount.driver.open()
                opened.append(mount)
        except BaseException:
            for mount in opened:
                await mount.driver.aclose()
            raise

    async def aclose(self) -> None:
        for mount in self.mounts:
            try:
                await mount.driver.aclose()
            except Exception:  # one failing driver must not keep the others open
                log.exception("closing the driver of mount %s failed", mount.path)

    def by_id(self, storage_id: str) -> Mount:
        """:raises NotFound: no mount has that storage id."""
        try:
            return self._by_id[storage_id]
        except KeyError:
            raise NotFound(f"unknown storage id {storage_id!r}") from None

    def route_path(self, path: str) -> Routed | None:
        """The mount serving an absolute global path, or ``None`` for the virtual folders above."""
        segments = split_path(path)
        for mount in self.mounts:
            n = len(mount.segments)
            if segments[:n] == mount.segments:
                return Routed(mount, Reference.of(join_path(segments[n:])))
        return None

    def route(self, path: str, storage_id: str | None, opaque_id: str | None) -> Routed | None:
        """Route a CS3 reference given as its parts (no protobuf here).

        :raises NotFound: an unknown storage id, or a path outside every mount and its parents.
        """
        if storage_id or opaque_id:
            mount = self.by_id(storage_id or "")
            relative = "./" + "/".join(split_path(path or "."))
            return Routed(
                mount, Reference.by_id(opaque_id or "", "." if relative == "./" else relative)
            )
        if not path.startswith("/"):
            raise InvalidPath("a reference needs an absolute path or a resource id")
        routed = self.route_path(path)
        if routed is None and not self.virtual_children(path):
            raise NotFound(f"no storage is mounted at {join_path(split_path(path))}")
        return routed

    def virtual_children(self, path: str) -> list[str]:
        """Names of the mount points right below a virtual folder (empty if it is not one)."""
        segments = split_path(path)
        names = {
            m.segments[len(segments)]
            for m in self.mounts
            if len(m.segments) > len(segments) and m.segments[: len(segments)] == segments
        }
        return sorted(names)
