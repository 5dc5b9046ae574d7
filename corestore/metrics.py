"""Prometheus metrics of the server: one registry, served at ``/metrics``.

Labels: ``rpc`` is the gRPC method or HTTP operation, ``driver`` the driver name of the mount
that served it (``-`` when none did, e.g. ``Authenticate``), ``code`` the CS3 code or HTTP status.
"""

from __future__ import annotations

import contextvars

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["Metrics", "current_driver"]

#: The driver that served the current request; set by the storage service when it routes.
current_driver: contextvars.ContextVar[str] = contextvars.ContextVar("current_driver", default="-")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "corestore_requests",
            "Requests served, by RPC or HTTP operation, driver and result code",
            ["rpc", "driver", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "corestore_errors",
            "Requests that ended in an error, by RPC and driver",
            ["rpc", "driver", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "corestore_request_seconds",
            "Request latency, by RPC or HTTP operation and driver",
            ["rpc", "driver"],
            registry=self.registry,
            buckets=(
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
                30,
                60,
            ),
        )
        self.bytes = Counter(
            "corestore_data_bytes",
            "Bytes moved through the HTTP data path, by direction and driver",
            ["direction", "driver"],
            registry=self.registry,
        )

    def observe(self, rpc: str, code: str, seconds: float, *, error: bool) -> None:
        driver = current_driver.get()
        self.requests.labels(rpc, driver, code).inc()
        self.latency.labels(rpc, driver).observe(seconds)
        if error:
            self.errors.labels(rpc, driver, code).inc()
