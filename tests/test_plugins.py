"""Plugin loading: entry points, allow- and block-lists, duplicates, missing drivers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pluggy
import pytest

from corestore import StorageDriver, hookimpl, plugins
from corestore.errors import ConfigError
from corestore.plugins import DriverNotFound, DriverRegistry


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("CORESTORE_LOAD_PLUGINS", "CORESTORE_DISABLE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    plugins.reset()
    yield
    plugins.reset()


def test_installed_drivers_are_found_through_entry_points() -> None:
    registry = plugins.get_registry()
    assert "memory" in registry
    assert registry.origin("memory") == "memory"


def test_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORESTORE_LOAD_PLUGINS", "")
    assert len(plugins.get_registry()) == 0


def test_block_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORESTORE_DISABLE_PLUGINS", "memory")
    assert "memory" not in plugins.get_registry()


def test_missing_driver_lists_installed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORESTORE_LOAD_PLUGINS", "memory")
    with pytest.raises(DriverNotFound, match=r"no storage driver named 'nope'; installed drivers: memory \(is corestore-nope installed\?\)"):
        plugins.get_registry().get("nope")


class _Dup(StorageDriver):  # type: ignore[misc]
    name = "memory"


def test_duplicate_name_names_both_plugins() -> None:
    registry = DriverRegistry()
    registry._current_plugin = "first"
    registry.add(plugins.get_registry().get("memory"))
    registry._current_plugin = "second"
    with pytest.raises(ConfigError, match=r"duplicate driver name 'memory': registered by plugin 'first' and again by plugin 'second'"):
        registry.add(_Dup)


def test_only_driver_classes_can_be_registered() -> None:
    with pytest.raises(ConfigError, match="not a StorageDriver class"):
        DriverRegistry().add(object)  # type: ignore[arg-type]


def test_check_pending_rejects_misspelled_hooks() -> None:
    class Typo:
        @hookimpl
        def corestore_register_driver(self, registry: DriverRegistry) -> None:  # missing "s"
            pass

    from corestore import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Typo())
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()


def test_cli_lists_drivers_in_a_fresh_process() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "corestore.cli", "drivers"], check=True, capture_output=True, text=True
    ).stdout
    assert "memory" in out and "core only" in out
