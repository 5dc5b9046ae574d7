"""The hook a corestore plugin implements. There is one, on purpose.

A plugin is a module, found through the ``corestore`` entry-point group, that implements::

    from corestore import hookimpl

    @hookimpl
    def corestore_register_drivers(registry):
        registry.add(MyDriver)

Drivers are registered as *classes*: nothing is instantiated, connected or imported beyond the
class until a mount asks for it, so an installed plugin costs nothing at startup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from corestore.plugins import DriverRegistry

PROJECT = "corestore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def corestore_register_drivers(registry: DriverRegistry) -> None:
    """Register storage driver classes.

    :param registry: call ``registry.add(DriverClass)`` for each driver the plugin provides.
        The class's ``name`` is the name admins write in ``driver = "..."``. Adding a name that
        another plugin registered already is an error.

    .. versionadded:: 0.1
    """
