"""Placeholder, replaced by the swarm driver."""

from corestore.driver import StorageDriver


class P2PDriver(StorageDriver):  # pragma: no cover - replaced
    name = "cubbit_p2p"
