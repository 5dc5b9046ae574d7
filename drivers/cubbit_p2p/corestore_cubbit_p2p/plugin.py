"""Entry point of the ``corestore`` plugin group: registers the ``cubbit_p2p`` driver."""

from __future__ import annotations

from corestore import hookimpl


@hookimpl
def corestore_register_drivers(registry) -> None:  # noqa: ANN001
    from .driver import P2PDriver

    registry.add(P2PDriver)
