"""The HTTP service (`responder serve`): upload trigger, panic, ledger, health and metrics. Sync route handlers
(FastAPI runs them in its thread pool) over the same use cases the CLI calls (responder/service.py)."""

from responder.api.app import create_app

__all__ = ["create_app"]
