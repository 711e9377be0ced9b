"""CDS Hooks 2.0: discovery, patient-view and order-select/order-sign services, feedback.

The HTTP endpoints are in :mod:`vertebra.http.routers.cdshooks`."""
