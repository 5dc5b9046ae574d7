"""The ``corestore`` command.

Subcommands come from the ``corestore.commands`` entry-point group: each entry point is a function
``add_command(subparsers)`` that adds one ``argparse`` subparser and sets ``func`` on it. The core
registers its own commands (``drivers``, ``serve``) the same way a driver distribution registers
``swarm``, so a command appears exactly when the package that implements it is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import sys
from collections.abc import Sequence

from corestore.config import describe_options
from corestore.errors import CorestoreError

__all__ = ["add_drivers_command", "main"]

COMMANDS_GROUP = "corestore.commands"


def _distribution_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _run_drivers(args: argparse.Namespace) -> int:
    from corestore.plugins import get_registry

    registry = get_registry()
    rows = []
    for driver in registry:
        rows.append(
            {
                "name": driver.name,
                "version": registry.version(driver.name),
                "plugin": registry.origin(driver.name),
                "capabilities": sorted(driver.declared_capabilities()),
                "description": driver.description,
                "options": [
                    {"name": n, "type": t, "default": d, "doc": doc}
                    for n, t, d, doc in describe_options(driver.Options)
                ],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no storage drivers installed")
        return 0
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        caps = ", ".join(row["capabilities"]) or "core only"
        print(f"{row['name']:<{width}}  {row['version']:<10}  {caps}")
        if row["description"]:
            print(f"{'':<{width}}  {row['description']}")
        if args.options:
            for opt in row["options"]:
                print(f"{'':<{width}}    {opt['name']} ({opt['type']}, default {opt['default']}): {opt['doc']}")
    return 0


def add_drivers_command(subparsers: argparse._SubParsersAction) -> None:
    """``corestore drivers``: list installed drivers with version and capabilities."""
    parser = subparsers.add_parser("drivers", help="list the installed storage drivers")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--options", action="store_true", help="also list each driver's options")
    parser.set_defaults(func=_run_drivers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corestore", description="corestore: a CS3 storage platform with pluggable drivers"
    )
    parser.add_argument("--version", action="version", version=f"corestore {_distribution_version('corestore')}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    seen = set()
    for ep in sorted(importlib.metadata.entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        try:
            ep.load()(subparsers)
        except Exception as exc:  # a broken extra command must not break the others
            logging.getLogger(__name__).warning("cannot load command %r: %s", ep.name, exc)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CorestoreError as exc:
        print(f"corestore: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
