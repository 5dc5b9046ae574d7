"""The driver conformance kit: one shared test suite every corestore driver runs.

Two ways to run it against a driver (see the README, "Write a driver plugin"):

* **No code.** ``pytest --pyargs corestore.testing --corestore-driver NAME
  --corestore-driver-config FILE``. ``FILE`` is a TOML table of the driver's options; the string
  ``{tmp}`` in a value becomes a fresh temporary folder for each test.
* **Subclassing**, in the style of fsspec's abstract tests: subclass :class:`DriverTests` and
  override the ``driver`` fixture. Record known deviations in the subclass as explicit
  ``pytest.mark.xfail(reason=...)`` overrides, so they stay visible.

Optional capabilities are checked only where the driver declares them; elsewhere their tests skip
with the reason. The mixins (:class:`CoreTests`, :class:`MetadataTests`, ...) can also be combined
one by one.
"""

from corestore.testing.capability_tests import (
    GrantTests,
    LockTests,
    MetadataTests,
    RecycleTests,
    VersionTests,
)
from corestore.testing.core_tests import CoreTests
from corestore.testing.fixtures import (
    DriverFixtures,
    chunked,
    list_names,
    read_all,
    requires,
    write_bytes,
)
from corestore.testing.memory import PeakRSS, rss_bytes
from corestore.testing.streaming_tests import StreamingTests, generated_stream

__all__ = [
    "CoreTests",
    "DriverFixtures",
    "DriverTests",
    "GrantTests",
    "LockTests",
    "MetadataTests",
    "PeakRSS",
    "RecycleTests",
    "StreamingTests",
    "VersionTests",
    "chunked",
    "generated_stream",
    "list_names",
    "read_all",
    "requires",
    "rss_bytes",
    "write_bytes",
]


class DriverTests(
    CoreTests, StreamingTests, MetadataTests, LockTests, VersionTests, RecycleTests, GrantTests
):
    """The whole kit: the required core, bounded-memory streaming and every capability."""
