"""``corestore swarm``: placeholder."""


def add_command(subparsers) -> None:  # noqa: ANN001
    subparsers.add_parser("swarm", help="run an encrypted, erasure-coded swarm")
