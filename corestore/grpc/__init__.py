"""The CS3 gRPC front end: protobuf translation, the error-to-status decorator, the servicers."""

from __future__ import annotations

import grpc
from cs3.gateway.v1beta1 import gateway_api_pb2
from cs3.storage.provider.v1beta1 import provider_api_pb2

from corestore.errors import ConfigError
from corestore.grpc.rpc import add_servicer
from corestore.grpc.services import GatewayServicer, ProviderServicer
from corestore.state import ServerState

__all__ = ["build_grpc_server"]

PROVIDER_SERVICE = provider_api_pb2.DESCRIPTOR.services_by_name["ProviderAPI"]
GATEWAY_SERVICE = gateway_api_pb2.DESCRIPTOR.services_by_name["GatewayAPI"]


def build_grpc_server(state: ServerState, address: str) -> tuple[grpc.aio.Server, int]:
    """A ``grpc.aio`` server with the gateway and provider services, bound to ``address``.

    Returns the server (not started) and the bound port (useful when ``address`` ends in ``:0``).
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 64 << 20),
        ]
    )
    add_servicer(server, ProviderServicer(state), PROVIDER_SERVICE)
    add_servicer(server, GatewayServicer(state), GATEWAY_SERVICE)
    from corestore.ocm.grpc import SERVICES as OCM_SERVICES  # noqa: PLC0415
    from corestore.ocm.grpc import OcmServicer

    for service in OCM_SERVICES:
        add_servicer(server, OcmServicer(state), service)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio raises when the address cannot be bound
        port = 0
    if port == 0:
        raise ConfigError(f"cannot listen for gRPC on {address}")
    return server, port
