"""pytest plugin of the conformance kit, loaded through the ``pytest11`` entry point.

It only adds command-line options and the capability marker, so loading it costs nothing in
test runs that do not use the kit. The driver itself is built in :mod:`corestore.testing.test_conformance`.
"""

from __future__ import annotations

import pytest

from corestore.config import parse_size


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("corestore", "corestore driver conformance kit")
    group.addoption("--corestore-driver", metavar="NAME", help="run the kit against this installed driver")
    group.addoption(
        "--corestore-driver-config",
        metavar="FILE",
        help="TOML file with the driver's options; '{tmp}' in a value becomes a fresh temp folder",
    )
    group.addoption(
        "--corestore-large-size",
        metavar="SIZE",
        default="256MiB",
        help="bytes streamed by the bounded-memory test (e.g. 1GiB; 0 skips it)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "corestore_capability(cap): test needs an optional driver capability"
    )


def large_size_option(config: pytest.Config) -> int:
    return parse_size(config.getoption("--corestore-large-size"))
