"""`responder providers list|check`: which plugins are installed, which instances are configured, and
whether each instance's URL and responder's own credentials work."""

from __future__ import annotations

from typing import Annotated

import typer

from responder.cli_common import ConfigOption, load
from responder.errors import ConfigError
from responder.plugins import load_providers, provider_plugins
from responder.settings import load_settings

providers_app = typer.Typer(
    help="Identity-provider plugins and configured instances.", no_args_is_help=True, rich_markup_mode=None
)


@providers_app.command("list")
def list_command(config: ConfigOption = None) -> None:
    """Installed plugins, then configured instances with the hosts they claim."""
    settings = load_settings(config)
    installed = provider_plugins()
    typer.echo("installed plugins:")
    for name, target in sorted(installed.items()):
        typer.echo(f"  {name:<12} {target}")
    typer.echo("configured instances:" if settings.providers else "configured instances: none")
    for provider in settings.providers:
        state = "" if provider.plugin in installed else "  (plugin not installed)"
        hosts = ", ".join(sorted(provider.claimed_hosts())) or "-"
        typer.echo(f"  {provider.name:<12} plugin={provider.plugin} hosts={hosts}{state}")


@providers_app.command("check")
def check_command(
    name: Annotated[str | None, typer.Argument(help="Only this instance (default: all).")] = None,
    config: ConfigOption = None,
) -> None:
    """Prove each instance's base URL and responder's credentials with one harmless read. Exit 0 when all
    pass, 6 when any fails (each failure says what is wrong: bad token, wrong URL, missing permission)."""
    settings = load(config)
    if name is not None and name not in {p.name for p in settings.providers}:
        raise ConfigError(f"no provider instance named {name!r} is configured")
    providers = load_providers(settings, dry_run=True)  # a check never changes anything
    failed = 0
    try:
        for instance, provider in providers.items():
            if name is not None and instance != name:
                continue
            result = provider.check()
            failed += not result.ok
            typer.echo(f"{instance}: {'ok' if result.ok else 'FAILED'}: {result.detail}")
    finally:
        for provider in providers.values():
            provider.close()
    if failed:
        raise typer.Exit(6)
