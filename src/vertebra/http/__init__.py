"""HTTP adapters: the JSON API and the CDS Hooks services over the one core."""

from __future__ import annotations

from vertebra.http.app import create_app

__all__ = ["create_app"]
