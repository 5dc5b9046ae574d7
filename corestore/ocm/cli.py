"""``corestore ocm``: admin helpers over the server's CS3 gRPC API.

* ``corestore ocm invite [--description TEXT]`` prints a new invite as ``TOKEN@PROVIDER`` and as
  the canonical invite string (base64url of it, no padding);
* ``corestore ocm accept TOKEN@PROVIDER`` (or an invite string) accepts an invite from another
  site for the logged-in user;
* ``corestore ocm shares [--accept ID | --decline ID]`` lists outgoing and received shares.

They log in as ``--user`` with the password from ``CORESTORE_PASSWORD`` (or a prompt).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import json
import os
import sys
import urllib.request
from typing import Any

__all__ = ["add_command", "parse_invite"]


def parse_invite(value: str) -> tuple[str, str]:
    """``TOKEN@PROVIDER`` or its base64url invite string -> ``(token, provider)``."""
    text = value.strip()
    if "@" not in text:
        try:
            text = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError("expected TOKEN@PROVIDER or an invite string") from None
    token, _, provider = text.rpartition("@")
    if not token or not provider:
        raise ValueError("expected TOKEN@PROVIDER or an invite string")
    return token, provider


def _login(args: argparse.Namespace) -> tuple[Any, list[tuple[str, str]]]:
    import grpc
    from cs3.gateway.v1beta1 import gateway_api_pb2 as gw
    from cs3.gateway.v1beta1 import gateway_api_pb2_grpc as gw_grpc

    password = os.environ.get("CORESTORE_PASSWORD")
    if password is None:
        password = (
            getpass.getpass(f"password for {args.user}: ")
            if sys.stdin.isatty()
            else sys.stdin.readline().rstrip("\n")
        )
    channel = grpc.insecure_channel(args.grpc)
    gateway = gw_grpc.GatewayAPIStub(channel)
    res = gateway.Authenticate(
        gw.AuthenticateRequest(type="basic", client_id=args.user, client_secret=password)
    )
    _check(res.status)
    return gateway, [("x-access-token", res.token)]


class CliError(Exception):
    pass


def _check(status: Any) -> None:
    from cs3.rpc.v1beta1 import code_pb2

    if status.code != code_pb2.CODE_OK:
        raise CliError(f"{code_pb2.Code.Name(status.code)}: {status.message}")


def _domain(http: str) -> str:
    from corestore.ocm.address import normalize_host

    with urllib.request.urlopen(f"{http.rstrip('/')}/.well-known/ocm", timeout=10) as response:  # noqa: S310
        doc = json.load(response)
    return normalize_host(doc["endPoint"])


def _invite(args: argparse.Namespace) -> int:
    from cs3.ocm.invite.v1beta1 import invite_api_pb2 as inv

    gateway, md = _login(args)
    res = gateway.GenerateInviteToken(
        inv.GenerateInviteTokenRequest(description=args.description), metadata=md
    )
    _check(res.status)
    token = res.invite_token.token
    domain = _domain(args.http)
    plain = f"{token}@{domain}"
    print(f"invite:        {plain}")
    print(f"invite string: {base64.urlsafe_b64encode(plain.encode()).rstrip(b'=').decode()}")
    print(f"expires:       {res.invite_token.expiration.seconds}")
    return 0


def _accept(args: argparse.Namespace) -> int:
    from cs3.ocm.invite.v1beta1 import invite_api_pb2 as inv
    from cs3.ocm.invite.v1beta1 import resources_pb2 as invr
    from cs3.ocm.provider.v1beta1 import resources_pb2 as prov

    token, provider = parse_invite(args.invite)
    gateway, md = _login(args)
    res = gateway.ForwardInvite(
        inv.ForwardInviteRequest(
            invite_token=invr.InviteToken(token=token),
            origin_system_provider=prov.ProviderInfo(domain=provider),
        ),
        metadata=md,
    )
    _check(res.status)
    print(
        f"accepted: you are now connected with {res.user_id.opaque_id}@{res.user_id.idp} "
        f"({res.display_name or '-'}, {res.email or '-'})"
    )
    return 0


def _shares(args: argparse.Namespace) -> int:
    from cs3.sharing.ocm.v1beta1 import ocm_api_pb2 as ocm
    from cs3.sharing.ocm.v1beta1 import resources_pb2 as ocmr
    from google.protobuf import field_mask_pb2

    gateway, md = _login(args)
    for share_id, state in (
        (args.accept, ocmr.SHARE_STATE_ACCEPTED),
        (args.decline, ocmr.SHARE_STATE_REJECTED),
    ):
        if share_id:
            res = gateway.UpdateReceivedOCMShare(
                ocm.UpdateReceivedOCMShareRequest(
                    share=ocmr.ReceivedShare(id=ocmr.ShareId(opaque_id=share_id), state=state),
                    update_mask=field_mask_pb2.FieldMask(paths=["state"]),
                ),
                metadata=md,
            )
            _check(res.status)
    out = gateway.ListOCMShares(ocm.ListOCMSharesRequest(), metadata=md)
    _check(out.status)
    received = gateway.ListReceivedOCMShares(ocm.ListReceivedOCMSharesRequest(), metadata=md)
    _check(received.status)
    print("outgoing:")
    for s in out.shares:
        perms = (
            "rw"
            if s.access_methods
            and s.access_methods[0].webdav_options.permissions.initiate_file_upload
            else "r"
        )
        print(
            f"  {s.id.opaque_id}  {s.name}  -> "
            f"{s.grantee.user_id.opaque_id}@{s.grantee.user_id.idp}  [{perms}]"
        )
    print("received:")
    for r in received.shares:
        state = ocmr.ShareState.Name(r.state).removeprefix("SHARE_STATE_").lower()
        print(
            f"  {r.id.opaque_id}  {r.name}  from {r.owner.opaque_id}@{r.owner.idp}  {state}"
            f"{'  at ' + r.destination if r.destination else ''}"
        )
    return 0


def _run(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (CliError, ValueError, OSError) as exc:
            print(f"corestore ocm: {exc}", file=sys.stderr)
            return 1

    return run


def add_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ocm", help="Open Cloud Mesh helpers: invites and federated shares"
    )
    parser.add_argument("--grpc", default="127.0.0.1:19000", help="the server's gRPC address")
    parser.add_argument(
        "--http", default="http://127.0.0.1:19001", help="the server's public HTTP URL"
    )
    parser.add_argument("--user", default=os.environ.get("USER", ""), help="who to log in as")
    sub = parser.add_subparsers(dest="ocm_command", required=True)
    invite = sub.add_parser("invite", help="create an invite for another site's user")
    invite.add_argument("--description", default="")
    invite.set_defaults(func=_run(_invite))
    accept = sub.add_parser("accept", help="accept TOKEN@PROVIDER (or an invite string)")
    accept.add_argument("invite")
    accept.set_defaults(func=_run(_accept))
    shares = sub.add_parser("shares", help="list outgoing and received shares")
    shares.add_argument("--accept", metavar="ID", help="accept a received share first")
    shares.add_argument("--decline", metavar="ID", help="decline a received share first")
    shares.set_defaults(func=_run(_shares))
