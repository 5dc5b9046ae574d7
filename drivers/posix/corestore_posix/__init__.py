"""corestore driver for a local POSIX file tree, with every optional capability."""
