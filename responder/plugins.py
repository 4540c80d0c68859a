"""Plugin discovery by entry point. Built-ins register through our own pyproject.toml, like anyone else's."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from responder.errors import ConfigError, PluginError
from responder.http import build_client
from responder.interfaces import Provider, Reader, Source
from responder.secret import read_secret
from responder.settings import Settings, SourceConfig

READERS_GROUP = "responder.readers"
PROVIDERS_GROUP = "responder.providers"
SOURCES_GROUP = "responder.sources"


@dataclass(frozen=True, slots=True)
class ReaderRegistry:
    readers: tuple[Reader, ...]

    def choose(self, head: bytes, filename: str) -> Reader | None:
        best: tuple[int, Reader] | None = None
        for reader in self.readers:
            score = reader.sniff(head, filename)
            if score > 0 and (best is None or score > best[0]):
                best = (score, reader)
        return best[1] if best else None

    def by_name(self, name: str) -> Reader:
        for reader in self.readers:
            if reader.name == name:
                return reader
        raise PluginError(f"no reader named {name!r} is installed")


def load_readers() -> ReaderRegistry:
    readers: list[Reader] = []
    names: set[str] = set()
    for entry in entry_points(group=READERS_GROUP):
        try:
            reader = entry.load()()
        except Exception as exc:  # a broken plugin must name itself, not crash the scan with a traceback
            raise PluginError(f"reader plugin {entry.name!r} ({entry.value}) failed to load: {exc}") from exc
        for attribute in ("name", "sniff", "read", "rewrite"):
            if not hasattr(reader, attribute):
                raise PluginError(f"reader plugin {entry.name!r} lacks {attribute!r}")
        if reader.name in names:
            raise PluginError(f"two reader plugins are named {reader.name!r}")
        names.add(reader.name)
        readers.append(reader)
    if not readers:
        raise PluginError("no readers registered: is responder installed (pip install -e .)?")
    return ReaderRegistry(tuple(readers))


def provider_plugins() -> dict[str, str]:
    """Installed provider plugins: name → import path."""
    return {entry.name: entry.value for entry in entry_points(group=PROVIDERS_GROUP)}


def load_providers(settings: Settings, *, dry_run: bool = False) -> dict[str, Provider]:
    """Build every configured `[[providers]]` instance with its own HTTP client (base_url, else issuer).
    With dry_run, every client refuses mutating calls for the life of the process."""
    installed = {entry.name: entry for entry in entry_points(group=PROVIDERS_GROUP)}
    providers: dict[str, Provider] = {}
    for config in settings.providers:
        entry = installed.get(config.plugin)
        if entry is None:
            known = ", ".join(sorted(installed)) or "none"
            raise ConfigError(
                f"providers.{config.name}: plugin {config.plugin!r} is not installed (installed: {known})"
            )
        try:
            plugin = entry.load()
        except Exception as exc:
            raise PluginError(f"provider plugin {entry.name!r} ({entry.value}) failed to load: {exc}") from exc
        base_url = config.base_url or config.issuer or ""
        client = build_client(base_url, settings.engine.http_timeout_seconds, always_dry_run=dry_run)
        provider = plugin.from_config(config.model_dump(), client)  # the plugin validates its own table
        for attribute in ("name", "claims", "plan", "resolve", "execute", "verify", "check", "close"):
            if not hasattr(provider, attribute):
                raise PluginError(f"provider plugin {entry.name!r} lacks {attribute!r}")
        providers[config.name] = provider
    return providers


def source_plugins() -> dict[str, str]:
    """Installed source plugins: name → import path."""
    return {entry.name: entry.value for entry in entry_points(group=SOURCES_GROUP)}


def load_sources(settings: Settings, *, dry_run: bool = False, only: str | None = None) -> dict[str, Source]:
    """Build the configured `[[sources]]` instances (or just `only`), each with its own HTTP client. With
    dry_run, every client refuses mutating calls: a rehearsal never changes a ticket."""
    configs = [c for c in settings.sources if only is None or c.name == only]
    if only is not None and not configs:
        known = ", ".join(c.name for c in settings.sources) or "none"
        raise ConfigError(f"no source named {only!r} is configured (configured: {known})")
    installed = {entry.name: entry for entry in entry_points(group=SOURCES_GROUP)}
    return {config.name: _build_source(settings, config, installed, dry_run) for config in configs}


def load_sources_tolerant(settings: Settings) -> tuple[dict[str, Source], dict[str, str]]:
    """For the service: every source that builds, and for each one that does not, why (logged and shown by
    /readyz; `responder config check` names the key). A source whose plugin has no connector (github) only
    takes webhooks: it is neither built nor a problem."""
    installed = {entry.name: entry for entry in entry_points(group=SOURCES_GROUP)}
    sources: dict[str, Source] = {}
    problems: dict[str, str] = {}
    for config in settings.sources:
        if config.plugin not in installed and config.plugin == "github":
            continue
        try:
            sources[config.name] = _build_source(settings, config, installed, False)
        except (ConfigError, PluginError) as exc:
            problems[config.name] = str(exc)
    return sources, problems


def _build_source(settings: Settings, config: SourceConfig, installed: dict[str, EntryPoint], dry_run: bool) -> Source:
    entry = installed.get(config.plugin)
    if entry is None:
        known = ", ".join(sorted(installed)) or "none"
        raise ConfigError(f"sources.{config.name}: plugin {config.plugin!r} is not installed (installed: {known})")
    try:
        plugin = entry.load()
    except Exception as exc:
        raise PluginError(f"source plugin {entry.name!r} ({entry.value}) failed to load: {exc}") from exc
    where = f"sources.{config.name}.webhook_secret"
    secret = read_secret(where, config.webhook_secret, config.webhook_secret_file, config.webhook_secret_env)
    table = config.plugin_table()
    base_url = table.get("base_url")
    client = build_client(
        base_url if isinstance(base_url, str) else "", settings.engine.http_timeout_seconds, always_dry_run=dry_run
    )
    source: Source = plugin.from_config(config.name, table, client, secret)  # the plugin validates its own keys
    for attribute in SOURCE_METHODS:
        if not hasattr(source, attribute):
            raise PluginError(f"source plugin {entry.name!r} lacks {attribute!r}")
    return source


SOURCE_METHODS = (
    "name",
    "parse_webhook",
    "changed_since",
    "attachments_of",
    "download",
    "replace_with_sanitized",
    "annotate",
    "check",
    "close",
)
