"""``corestore ocm invite | accept | shares`` against the two running sites."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(site, user: str, password: str, *args: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "corestore.cli",
            "ocm",
            "--grpc",
            site.server.grpc_address,
            "--http",
            site.http,
            "--user",
            user,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CORESTORE_PASSWORD": password},
    )


def test_cli_invite_accept_shares(site_a, site_b) -> None:  # noqa: ANN001
    made = cli(site_a, "richard", "superfluidity", "invite", "--description", "cli")
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(":", 1) for line in made.stdout.splitlines())
    plain, encoded = lines["invite"].strip(), lines["invite string"].strip()
    assert plain.endswith("@" + site_a.domain)
    accepted = cli(
        site_b, "richard", "superfluidity", "accept", encoded
    )  # the base64url invite string
    assert accepted.returncode == 0, accepted.stderr
    assert f"richard@{site_a.domain}" in accepted.stdout
    again = cli(site_b, "richard", "superfluidity", "accept", plain)
    assert again.returncode == 1 and "CODE_ALREADY_EXISTS" in again.stderr
    bad = cli(site_b, "richard", "superfluidity", "accept", "not-an-invite")
    assert bad.returncode == 1 and "TOKEN@PROVIDER" in bad.stderr
    listed = cli(site_b, "richard", "superfluidity", "shares")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("outgoing:") and "received:" in listed.stdout
