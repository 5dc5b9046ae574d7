"""corestore driver for S3-compatible object stores, through s3fs (async).

Registered under the ``corestore`` entry point as ``s3``. Importing this package is cheap: s3fs and
botocore are imported only when a driver is opened.
"""

from corestore import hookimpl
from corestore_s3.driver import S3Driver
from corestore_s3.options import S3Options

__all__ = ["S3Driver", "S3Options"]


@hookimpl
def corestore_register_drivers(registry) -> None:  # noqa: ANN001
    registry.add(S3Driver)
