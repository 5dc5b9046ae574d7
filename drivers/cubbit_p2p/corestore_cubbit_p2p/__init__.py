"""corestore driver and swarm for an encrypted, erasure-coded peer-to-peer store."""
