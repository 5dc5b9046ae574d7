"""Plugin loading and the driver registry.

:func:`get_registry` loads every plugin once and returns the :class:`DriverRegistry`. Loading:

1. names in ``CORESTORE_DISABLE_PLUGINS`` (comma-separated entry-point names) are blocked;
2. entry points of the ``corestore`` group are loaded, restricted to ``CORESTORE_LOAD_PLUGINS``
   when that variable is set (an empty value loads none);
3. ``check_pending()`` rejects plugins that implement hooks corestore does not define, so a typo
   in a hook name fails loudly instead of silently registering nothing;
4. every plugin's ``corestore_register_drivers`` fills the registry.

Set ``CORESTORE_TRACE_PLUGINS=1`` to log every hook call.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
from collections.abc import Iterator

import pluggy

from corestore import hookspecs
from corestore.driver import StorageDriver
from corestore.errors import ConfigError

__all__ = ["DriverNotFound", "DriverRegistry", "get_plugin_manager", "get_registry", "reset"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "corestore"


class DriverNotFound(ConfigError):
    """A mount names a driver no installed plugin provides."""


class DriverRegistry:
    """Driver classes by name. Plugins add to it; mounts look drivers up in it."""

    def __init__(self) -> None:
        self._drivers: dict[str, type[StorageDriver]] = {}
        self._origins: dict[str, str] = {}
        self._current_plugin = "?"

    def add(self, driver: type[StorageDriver], *, replace: bool = False) -> None:
        """Register a driver class under its ``name``.

        :raises ConfigError: the class is not a driver, has no name, or the name is taken
            (unless ``replace``).
        """
        if not (isinstance(driver, type) and issubclass(driver, StorageDriver)):
            raise ConfigError(f"plugin {self._current_plugin} registered {driver!r}, not a StorageDriver class")
        name = getattr(driver, "name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"driver class {driver.__qualname__} has no name")
        if name in self._drivers and not replace and self._drivers[name] is not driver:
            raise ConfigError(
                f"duplicate driver name {name!r}: registered by plugin {self._origins[name]!r} "
                f"and again by plugin {self._current_plugin!r}"
            )
        self._drivers[name] = driver
        self._origins[name] = self._current_plugin

    def get(self, name: str) -> type[StorageDriver]:
        """The driver class called ``name``.

        :raises DriverNotFound: listing the drivers that are installed.
        """
        try:
            return self._drivers[name]
        except KeyError:
            installed = ", ".join(sorted(self._drivers)) or "none"
            raise DriverNotFound(
                f"no storage driver named {name!r}; installed drivers: {installed} "
                f"(is corestore-{name.replace('_', '-')} installed?)"
            ) from None

    def origin(self, name: str) -> str:
        """The plugin that registered ``name``."""
        return self._origins[name]

    def version(self, name: str) -> str:
        """The version of the distribution whose plugin registered ``name``."""
        return _versions.get(self._origins[name], "unknown")

    def names(self) -> list[str]:
        return sorted(self._drivers)

    def __iter__(self) -> Iterator[type[StorageDriver]]:
        return iter(self._drivers[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._drivers

    def __len__(self) -> int:
        return len(self._drivers)


_lock = threading.Lock()
_pm: pluggy.PluginManager | None = None
_versions: dict[str, str] = {}
_registry: DriverRegistry | None = None


def _env_names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _env_names("CORESTORE_LOAD_PLUGINS")
    for name in _env_names("CORESTORE_DISABLE_PLUGINS") or ():
        pm.set_blocked(name)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.is_blocked(ep.name) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take the server down with it
            log.error("cannot load corestore plugin %r: %s", ep.name, exc)
            continue
        pm.register(plugin, name=ep.name)
        _versions[ep.name] = ep.dist.version if ep.dist else "unknown"


def get_plugin_manager() -> pluggy.PluginManager:
    """The plugin manager, with every allowed plugin loaded and checked (once per process)."""
    global _pm
    with _lock:
        if _pm is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT)
            pm.add_hookspecs(hookspecs)
            _load_entry_points(pm)
            pm.check_pending()
            if os.environ.get("CORESTORE_TRACE_PLUGINS"):
                pm.trace.root.setwriter(log.info)
                pm.enable_tracing()
            _pm = pm
        return _pm


def get_registry() -> DriverRegistry:
    """The registry of every installed driver (built once per process)."""
    global _registry
    pm = get_plugin_manager()
    with _lock:
        if _registry is None:
            registry = DriverRegistry()
            # Called one implementation at a time so a duplicate name can say which plugin
            # registered it first.
            for impl in reversed(pm.hook.corestore_register_drivers.get_hookimpls()):
                registry._current_plugin = impl.plugin_name
                impl.function(registry=registry)
            registry._current_plugin = "?"
            _registry = registry
        return _registry


def reset() -> None:
    """Forget loaded plugins (tests that change the plugin environment variables use this)."""
    global _pm, _registry
    with _lock:
        _pm = None
        _registry = None
