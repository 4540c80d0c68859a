"""`responder serve`: the HTTP service (upload trigger, panic, ledger API) with the engine inside."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from typing import Annotated

import typer

from responder.cli_common import ConfigOption, load
from responder.errors import ConfigError
from responder.settings import ApiKeyConfig, Settings


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default serve.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default serve.port, 8080).")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the service: POST /v1/artifacts (upload trigger), POST /v1/panic, the ledger API, /healthz, /readyz,
    /metrics, OpenAPI docs at /docs; the execution engine runs inside (serve.engine). SIGTERM or Ctrl-C lets
    the actions in hand finish, then exits.

    Every route but health needs an API key from [[api_keys]]. With none configured and a loopback address,
    a key for this run only is generated and printed once (for trying it out); elsewhere that is refused."""
    import uvicorn

    from responder.api import create_app

    settings = load(config)
    listen_host = host or settings.serve.host
    listen_port = port or settings.serve.port
    settings, run_key = _with_keys(settings, listen_host)
    _notifiers_build(settings)
    app = create_app(settings)
    base = f"http://{listen_host}:{listen_port}"
    typer.echo(f"responder serving on {base}", err=True)
    typer.echo(f"  upload:  POST {base}/v1/artifacts   (role uploader)", err=True)
    typer.echo(
        f"  panic:   {base}/panic  (the page; log in with a responder key)   API: POST {base}/v1/panic", err=True
    )
    typer.echo(f"  ledger:  GET  {base}/v1/ledger      (role auditor)", err=True)
    typer.echo(f"  docs:    {base}/docs   health: {base}/healthz   ready: {base}/readyz", err=True)
    if run_key is not None:
        typer.echo(
            "  no [[api_keys]] configured: a key for this run only (all roles), shown once:\n"
            f"    Authorization: Bearer {run_key}\n"
            "  try it:\n"
            f"    curl -sS -H 'Authorization: Bearer {run_key}' --data-binary @examples/oidc-login.har \\\n"
            f"      '{base}/v1/artifacts?filename=oidc-login.har&dry_run=true'",
            err=True,
        )
    # uvicorn's access log would print request lines (a query string can carry a value): off.
    uvicorn.run(app, host=listen_host, port=listen_port, access_log=False, log_level="warning")


def _with_keys(settings: Settings, host: str) -> tuple[Settings, str | None]:
    if settings.api_keys:
        return settings, None
    if not _is_loopback(host):
        raise ConfigError(
            f"serve on {host}: configure [[api_keys]] first (key_sha256 = the hex SHA-256 of a random key); a "
            "service reachable from other hosts never runs without them"
        )
    key = secrets.token_urlsafe(32)
    run_only = ApiKeyConfig(
        name="this-run", key_sha256=hashlib.sha256(key.encode()).hexdigest(), roles=("uploader", "responder", "auditor")
    )
    return settings.model_copy(update={"api_keys": (run_only,)}), key


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _notifiers_build(settings: Settings) -> None:
    """The notifiers are built in the background once serving; a bad one is refused here first, as one line
    (the lifespan would print a traceback and stop the server)."""
    from responder.notify.notifiers import build_notifiers

    for notifier in build_notifiers(settings.notifiers).values():
        notifier.close()
