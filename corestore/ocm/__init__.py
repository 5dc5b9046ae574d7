"""Open Cloud Mesh: discovery, invites and federated shares between corestore sites.

The package is imported lazily by the server: :mod:`corestore.ocm.config` is the only module the
server configuration needs, so loading it stays cheap when OCM is off.

* :mod:`~corestore.ocm.site` holds the logic (invites, contacts, outgoing and received shares);
* :mod:`~corestore.ocm.handlers` is the OCM HTTP API, :mod:`~corestore.ocm.dav` serves shared
  resources over WebDAV, :mod:`~corestore.ocm.mount` shows received shares in the namespace;
* :mod:`~corestore.ocm.grpc` exposes the CS3 ``InviteAPI``, ``OcmAPI`` and ``OcmIncomingAPI``;
* :mod:`~corestore.ocm.signatures` signs and verifies requests (RFC 9421 and draft-cavage).
"""
