"""corestore driver for S3-compatible object stores (s3fs)."""
