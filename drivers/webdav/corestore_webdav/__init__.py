"""corestore driver for any WebDAV server (webdav4)."""
