"""CDS Hooks 2.0: discovery, patient-view and order-select/order-sign services, feedback."""

from __future__ import annotations

from vertebra.cdshooks.routes import router

__all__ = ["router"]
