"""corestore driver that attaches an existing ownCloud or Nextcloud server through its public APIs."""
