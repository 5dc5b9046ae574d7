"""Options of the s3 driver (one ``[mounts.<name>]`` table with ``driver = "s3"``).

Every option can also come from the environment as ``CORESTORE_S3_<KEY>`` (the core config
parser does that), which is how keys stay out of config files. Credentials left empty fall back
to botocore's own chain (``AWS_ACCESS_KEY_ID``, ``~/.aws``, instance roles).
"""

from __future__ import annotations

from dataclasses import dataclass

from corestore.config import ByteSize, option

__all__ = ["MIN_PART_SIZE", "S3Options"]

#: S3 refuses multipart parts smaller than 5 MiB (except the last one).
MIN_PART_SIZE = 5 << 20


@dataclass(frozen=True)
class S3Options:
    bucket: str = option(doc="bucket holding the namespace")
    prefix: str = option("", doc="key prefix of the namespace inside the bucket (e.g. 'cs3/')")
    endpoint: str = option("", doc="endpoint URL (empty: AWS for the region)")
    region: str = option("us-east-1", doc="region name used for signing")
    access_key_id: str = option("", doc="access key (empty: botocore's credential chain)")
    secret_access_key: str = option("", doc="secret key", secret=True)
    session_token: str = option("", doc="session token for temporary credentials", secret=True)
    create_bucket: bool = option(False, doc="create the bucket on open if it does not exist")
    part_size: ByteSize = option(
        ByteSize(8 << 20),
        doc="multipart part size; an upload holds about (concurrency + 2) parts",
    )
    range_size: ByteSize = option(
        ByteSize(256 << 20), doc="bytes per ranged GET (streamed: costs requests, not memory)"
    )
    concurrency: int = option(2, doc="parts uploaded in parallel per write")
    conditional_writes: bool = option(
        True,
        doc="commit with If-Match/If-None-Match so S3 refuses lost races (off for stores "
        "that reject these headers)",
    )
    quota: ByteSize = option(ByteSize(0), doc="total bytes reported by get_quota (0: unlimited)")
    retries: int = option(5, doc="botocore retry attempts for throttling and transient errors")

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ValueError("bucket must not be empty")
        if self.part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3 minimum)")
        if self.range_size <= 0 or self.concurrency < 1 or self.retries < 0:
            raise ValueError("range_size and concurrency must be positive, retries >= 0")
        if self.prefix.startswith("/"):
            raise ValueError("prefix must not start with '/'")
