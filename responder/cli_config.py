"""`responder config check|reference`: validate everything a deployment needs before it is needed, and print the
configuration reference generated from the models.

`check` never changes anything: no key is generated, no database created or migrated, and every provider client
refuses mutating calls. Each result names its key (`providers.corp.token_file`) and, for a problem, a fix."""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import os
import re
import tomllib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from responder.cli_common import ConfigOption
from responder.cli_serve import _is_loopback
from responder.config_reference import (
    InstalledPlugin,
    PluginKind,
    installed_plugins,
    is_secret,
    nested_model,
    render_reference,
    type_text,
)
from responder.errors import ConfigError
from responder.http import build_client
from responder.keys import fingerprinter, open_sealer
from responder.ledger import database
from responder.ledger.schema import ledger_meta
from responder.log import configure_logging
from responder.notify.notifiers import build_notifier
from responder.notify.settings import NotifierConfig
from responder.secret import Secret, read_secret
from responder.settings import EngineSettings, ProviderConfig, Settings, SourceConfig, load_settings

EXIT_OK, EXIT_CHECK_FAILED, EXIT_PROBLEMS = 0, 1, 2
DOCS = "docs/configuration.md"
_KEYED = re.compile(
    r"^((?:providers|sources|notifiers|ledger)\.[A-Za-z0-9_.\-\[\]]+|fingerprint_key|data_dir): (.+)$", re.S
)
_SECRET_NAME = re.compile(r"(secret|token|password|key)", re.I)
_SHORTEST_REDACTED = 6  # shorter values ("yes", "1") would blank out ordinary words

config_app = typer.Typer(
    help="The configuration: check it end to end, or print its reference.", no_args_is_help=True, rich_markup_mode=None
)


class Status(StrEnum):
    OK = "ok"
    NOTE = "note"  # worth knowing, not wrong
    SKIPPED = "skipped"
    PROBLEM = "problem"  # the configuration must change: exit 2
    FAILED = "failed"  # the configuration may be right, but a live check failed: exit 1


@dataclass(frozen=True, slots=True)
class Result:
    key: str
    status: Status
    message: str
    fix: str = ""


class CheckFormat(StrEnum):
    table = "table"
    json = "json"


# ---- commands --------------------------------------------------------------------------------------------


@config_app.command("reference")
def reference_command() -> None:
    """Print the configuration reference (Markdown) generated from the settings models and the installed
    plugins' own models: responder config reference > docs/configuration.md"""
    typer.echo(render_reference(), nl=False)


@config_app.command("check")
def check_command(
    config: ConfigOption = None,
    output_format: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="table for people, json for machines.")
    ] = CheckFormat.table,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Make no network call: provider and source credentials are not tried and a PostgreSQL ledger is "
            "not contacted (its URL is still validated).",
        ),
    ] = False,
) -> None:
    """Load and validate everything: settings, every [[providers]] table through its plugin, every [[sources]]
    table through its plugin when installed, API keys, responder's keys and secret files, the ledger (reachable,
    migrated, same keys as the other hosts); then, unless --offline, each provider's credentials with one
    harmless read. Each problem is printed with its key and a fix; secret values never are. Changes nothing.

    Exit status: 0 all good, 2 configuration problems, 1 a check failed (e.g. an IdP refused the credentials
    or the ledger did not answer) and the configuration is otherwise valid."""
    checker = Checker(config, offline=offline, machine=output_format == CheckFormat.json)
    found = list(checker.run())  # all of them first: a secret met late must be hidden in earlier results too
    results = [checker.redact(result) for result in found]
    code = exit_code(results)
    if output_format == CheckFormat.json:
        body = {
            "config": str(config) if config else None,
            "offline": offline,
            "exit_code": code,
            "problems": sum(r.status == Status.PROBLEM for r in results),
            "failed": sum(r.status == Status.FAILED for r in results),
            "results": [asdict(r) for r in results],
        }
        typer.echo(json.dumps(body, indent=2))
    else:
        typer.echo(render_table(results, config, offline=offline, code=code))
    raise typer.Exit(code)


def exit_code(results: Iterable[Result]) -> int:
    statuses = {r.status for r in results}
    if Status.PROBLEM in statuses:
        return EXIT_PROBLEMS
    return EXIT_CHECK_FAILED if Status.FAILED in statuses else EXIT_OK


def render_table(results: Sequence[Result], config: Path | None, *, offline: bool, code: int) -> str:
    width = min(max((len(r.key) for r in results), default=10), 44)
    lines = [f"responder config check: {config or 'no config file (RESPONDER_* environment only)'}"]
    lines[0] += " (offline)" if offline else ""
    for result in results:
        label = result.status.value.upper() if result.status in (Status.PROBLEM, Status.FAILED) else result.status
        lines.append(f"  {label:<8} {result.key:<{width}}  {result.message}")
        if result.fix:
            lines.append(f"  {'':<8} {'':<{width}}  fix: {result.fix}")
    problems = sum(r.status == Status.PROBLEM for r in results)
    failed = sum(r.status == Status.FAILED for r in results)
    verdict = "all good" if code == EXIT_OK else f"{problems} configuration problem(s), {failed} failed check(s)"
    lines.append(f"{verdict} (exit {code})")
    return "\n".join(lines)


# ---- the checks ------------------------------------------------------------------------------------------


class Checker:
    """Runs every check in a fixed order and remembers every secret value it meets, so that no result can
    carry one even if a plugin's message were careless."""

    def __init__(self, config: Path | None, *, offline: bool, machine: bool = False) -> None:
        self.config = config
        self.offline = offline
        self.machine = machine
        self._secrets: set[str] = set()
        self._plugins: dict[str, dict[str, InstalledPlugin]] = {}

    def plugins(self, kind: PluginKind) -> dict[str, InstalledPlugin]:
        if kind not in self._plugins:
            self._plugins[kind] = {plugin.name: plugin for plugin in installed_plugins(kind)}
        return self._plugins[kind]

    def redact(self, result: Result) -> Result:
        message, fix = result.message, result.fix
        for value in sorted(self._secrets, key=len, reverse=True):
            message, fix = message.replace(value, "[secret]"), fix.replace(value, "[secret]")
        return Result(result.key, result.status, message, fix)

    def remember(self, value: str | None) -> None:
        if value and len(value.strip()) >= _SHORTEST_REDACTED:
            self._secrets.update({value, value.strip()})

    def run(self) -> Iterator[Result]:
        raw = self._raw_file()
        try:
            settings = load_settings(self.config)
        except ConfigError as exc:
            yield from self._load_problems(exc, raw)
            # The plugin tables can still be judged one by one: report their problems in the same run.
            for table in _tables(raw, "providers"):
                yield from self._provider_table(table, EngineSettings().http_timeout_seconds, live=False)
            return
        configure_logging(json=settings.log_json or self.machine, level=settings.log_level)
        self._remember_settings(settings)
        where = f"loaded {self.config}" if self.config else "loaded from the environment and defaults"
        yield Result("config", Status.OK, where)
        fingerprint_id, seal_id = yield from self._keys(settings)
        yield from self._api_keys(settings)
        timeout = settings.engine.http_timeout_seconds
        for provider in settings.providers:
            yield from self._provider_table(provider, timeout, live=True)
        for source in settings.sources:
            yield from self._source_table(source, timeout)
        for notifier in settings.notifiers:
            yield from self._notifier_table(notifier)
        yield from self._ledger(settings, fingerprint_id, seal_id)

    # ---- settings ----------------------------------------------------------------------------------------

    def _raw_file(self) -> dict[str, Any]:
        """The file as written, to name a table by its `name` in errors and to know its secret values."""
        if self.config is None:
            return {}
        try:
            raw = tomllib.loads(self.config.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return {}  # load_settings reports it
        for key, value in _walk(raw):
            if isinstance(value, str) and _SECRET_NAME.search(key) and not key.endswith(("_file", "_env")):
                self.remember(value)
        return raw

    def _load_problems(self, exc: ConfigError, raw: dict[str, Any]) -> Iterator[Result]:
        # load_settings raises inside its `except ValidationError`: the structured errors are the context.
        cause = exc.__context__
        if isinstance(cause, ValidationError):
            for error in cause.errors():
                yield _validation_result(error, Settings, "", raw, root=True)
            return
        text = str(exc)
        if "not found" in text:
            fix = "give an existing file with --config (or RESPONDER_CONFIG)"
        else:
            fix = "correct the TOML syntax at the line and column named (https://toml.io)"
        yield Result("config", Status.PROBLEM, text, fix)

    def _remember_settings(self, settings: Settings) -> None:
        for value in _secret_values(settings):
            self.remember(value)
        if settings.ledger.url is not None:
            with contextlib.suppress(ArgumentError):  # not a URL: the ledger check says so
                self.remember(make_url(settings.ledger.url.get_secret_value()).password)

    # ---- responder's own keys ----------------------------------------------------------------------------

    def _keys(self, settings: Settings) -> Generator[Result, None, tuple[str | None, str | None]]:
        """Results for the fingerprint and seal keys; returns their ids (None: would be generated, or broken)."""
        fingerprint_id: str | None = None
        seal_id: str | None = None
        generated = settings.data_dir / "fingerprint.key"
        if settings.fingerprint_key is None and not generated.exists():
            yield _will_generate("fingerprint_key", generated, settings.data_dir)
        else:
            try:
                fingerprint_id = fingerprinter(settings).key_id
                where = "from settings" if settings.fingerprint_key else f"from {generated}"
                yield Result("fingerprint_key", Status.OK, f"{where} (key id {fingerprint_id})")
            except ConfigError as exc:
                fix = "give at least 16 random bytes (openssl rand -hex 32) in RESPONDER_FINGERPRINT_KEY"
                yield _keyed_problem(exc, "fingerprint_key", fix)
        ledger = settings.ledger
        generated = settings.data_dir / "seal.key"
        if ledger.seal_key is None and ledger.seal_key_file is None and not generated.exists():
            yield _will_generate("ledger.seal_key", generated, settings.data_dir)
        else:
            try:
                seal_id = open_sealer(settings).key_id
                where = "from settings" if ledger.seal_key else f"from {ledger.seal_key_file or generated}"
                yield Result("ledger.seal_key", Status.OK, f"{where} (key id {seal_id})")
            except ConfigError as exc:
                fix = "give 64 hex characters (openssl rand -hex 32), the same on every host sharing the ledger"
                yield _keyed_problem(exc, "ledger.seal_key_file" if ledger.seal_key_file else "ledger.seal_key", fix)
        return fingerprint_id, seal_id

    # ---- API keys ----------------------------------------------------------------------------------------

    def _api_keys(self, settings: Settings) -> Iterator[Result]:
        keys = settings.api_keys
        if not keys:
            if _is_loopback(settings.serve.host):
                yield Result(
                    "api_keys",
                    Status.NOTE,
                    "none: `responder serve` on a loopback address makes a key for one run",
                    "",
                )
            else:
                yield Result(
                    "api_keys",
                    Status.PROBLEM,
                    f"none, and serve.host {settings.serve.host} is reachable from other hosts: `serve` refuses to "
                    "start",
                    "add [[api_keys]] tables (key_sha256 = the hex SHA-256 of a random key), or listen on 127.0.0.1",
                )
            return
        seen: dict[str, str] = {}
        for key in keys:
            digest = key.key_sha256.lower()
            if digest in seen:
                yield Result(
                    f"api_keys.{key.name}.key_sha256",
                    Status.PROBLEM,
                    f"the same key as api_keys.{seen[digest]}: the ledger could not tell the two callers apart",
                    "give each caller its own random key",
                )
            seen.setdefault(digest, key.name)
        summary = ", ".join(f"{k.name} ({', '.join(k.roles)})" for k in keys)
        yield Result("api_keys", Status.OK, f"{len(keys)} configured: {summary}")

    # ---- providers ---------------------------------------------------------------------------------------

    def _provider_table(
        self, config: ProviderConfig | dict[str, Any], timeout: float, *, live: bool
    ) -> Iterator[Result]:
        if isinstance(config, dict):  # a raw table, when the settings as a whole did not load
            try:
                config = ProviderConfig.model_validate(config)
            except ValidationError:
                return  # its own errors were already reported with the settings'
        where = f"providers.{config.name}"
        plugins = self.plugins("provider")
        plugin = plugins.get(config.plugin)
        if plugin is None or plugin.load_error:
            yield _plugin_problem(where, config.plugin, plugin, plugins, "provider")
            return
        table = config.model_dump()
        judged = list(self._plugin_settings(where, plugin, table))
        yield from judged
        if any(r.status == Status.PROBLEM for r in judged):
            return
        client = build_client(config.base_url or config.issuer or "", timeout, always_dry_run=True)
        make = functools.partial(plugin.plugin.from_config, table, client)
        provider, refused = _built(where, config.plugin, client, make)
        if refused is not None:
            yield refused
            return
        try:
            yield Result(where, Status.OK, f"valid ({config.plugin} plugin)")
            if not live:
                return
            yield self._live_check(where, provider, config.plugin, f"responder providers check {config.name}")
        finally:
            _close(provider)

    def _plugin_settings(self, where: str, plugin: InstalledPlugin, table: dict[str, Any]) -> Iterator[Result]:
        """The table through the plugin's own model, then each secret it names (readable, given once)."""
        model = plugin.settings_model
        if model is None:
            return
        try:
            settings = model.model_validate(table)
        except ValidationError as exc:
            for error in exc.errors():
                yield _validation_result(error, model, f"{where}.", {}, root=False)
            return
        yield from self._secrets_of(where, settings)

    def _secrets_of(self, where: str, settings: BaseModel) -> Iterator[Result]:
        fields = type(settings).model_fields
        for base in _secret_bases(fields):
            value = getattr(settings, base, None) if base in fields else None
            file = getattr(settings, f"{base}_file", None)
            env = getattr(settings, f"{base}_env", None)
            given = [k for k, v in ((base, value), (f"{base}_file", file), (f"{base}_env", env)) if v is not None]
            try:
                secret = read_secret(f"{where}.{base}", value, file, env)
            except ConfigError as exc:
                # The file or variable given is the one to fix, whatever setting the message names.
                key = f"{where}.{given[0]}" if len(given) == 1 else f"{where}.{base}"
                yield _keyed_problem(exc, key, _secret_fix(base, given, env), exact=True)
                continue
            if secret is not None:
                self.remember(secret.reveal())
            if value is not None:
                yield Result(
                    f"{where}.{base}",
                    Status.NOTE,
                    "a secret written into the configuration",
                    f"keep it in {base}_file (readable only by responder) or {base}_env instead",
                )

    def _live_check(self, where: str, instance: Any, plugin: str, again: str) -> Result:
        if self.offline:
            return Result(where, Status.SKIPPED, "credentials not tried (--offline)")
        try:
            result = instance.check()
        except Exception as exc:  # a plugin bug must not hide the other results
            return Result(where, Status.FAILED, f"the check raised {type(exc).__name__}", f"report it; then {again}")
        if result.ok:
            return Result(where, Status.OK, result.detail)
        fix = f"fix what the check names (credential, URL or permission); `{again}` repeats it"
        return Result(where, Status.FAILED, result.detail, fix)

    # ---- sources -----------------------------------------------------------------------------------------

    def _source_table(self, config: SourceConfig, timeout: float) -> Iterator[Result]:
        where = f"sources.{config.name}"
        secret, webhook = self._webhook_secret(config)
        yield from webhook
        plugins = self.plugins("source")
        plugin = plugins.get(config.plugin)
        if plugin is None or plugin.load_error:
            from responder.sources.webhooks import SCHEMES

            if plugin is None and config.plugin in SCHEMES:
                yield Result(
                    f"{where}.plugin",
                    Status.NOTE,
                    f"no {config.plugin!r} source plugin is installed: webhooks are taken, tickets are not swept",
                    f"install the plugin for sweeps (installed: {', '.join(sorted(plugins)) or 'none'})",
                )
                return
            yield _plugin_problem(where, config.plugin, plugin, plugins, "source")
            return
        table = config.plugin_table()
        judged = list(self._plugin_settings(where, plugin, table))
        yield from judged
        if any(r.status == Status.PROBLEM for r in (*judged, *webhook)):
            return
        base_url = table.get("base_url")
        client = build_client(base_url if isinstance(base_url, str) else "", timeout, always_dry_run=True)
        make = functools.partial(plugin.plugin.from_config, config.name, table, client, secret)
        source, refused = _built(where, config.plugin, client, make)
        if refused is not None:
            yield refused
            return
        try:
            yield Result(where, Status.OK, f"valid ({config.plugin} plugin)")
            yield self._live_check(where, source, config.plugin, "responder config check")
        finally:
            _close(source)

    def _webhook_secret(self, config: SourceConfig) -> tuple[Secret | None, list[Result]]:
        """The source's webhook secret, judged as the webhook route judges it, and what is wrong with it."""
        from responder.api.webhooks import MIN_SECRET_CHARS
        from responder.sources.webhooks import SCHEMES

        key = f"sources.{config.name}.webhook_secret"
        value, file, env = config.webhook_secret, config.webhook_secret_file, config.webhook_secret_env
        given = [
            k for k, v in (("webhook_secret", value), ("webhook_secret_file", file), ("webhook_secret_env", env)) if v
        ]
        try:
            secret = read_secret(key, value, file, env)
        except ConfigError as exc:
            exact = f"sources.{config.name}.{given[0]}" if len(given) == 1 else key
            return None, [_keyed_problem(exc, exact, _secret_fix("webhook_secret", given, env), exact=True)]
        if secret is None:
            return None, []
        self.remember(secret.reveal())
        if config.plugin not in SCHEMES:
            fix = f"remove the secret, or use a plugin that takes webhooks ({', '.join(sorted(SCHEMES))})"
            return None, [Result(key, Status.PROBLEM, f"{config.plugin!r} sources take no webhooks", fix)]
        if len(secret) < MIN_SECRET_CHARS:
            fix = "use the secret the vendor generates"
            return None, [Result(key, Status.PROBLEM, f"shorter than {MIN_SECRET_CHARS} characters", fix)]
        if value is not None:
            fix = "keep it in webhook_secret_file or webhook_secret_env instead"
            return secret, [Result(key, Status.NOTE, "a secret written into the configuration", fix)]
        return secret, []

    # ---- notifiers -----------------------------------------------------------------------------------------

    def _notifier_table(self, config: NotifierConfig) -> Iterator[Result]:
        """Built as `serve` builds it (secrets read, URL judged); no message is sent, so no live check."""
        where = f"notifiers.{config.name}"
        judged = list(self._secrets_of(where, config))
        yield from judged
        if any(r.status == Status.PROBLEM for r in judged):
            return
        try:
            notifier = build_notifier(config)
        except ConfigError as exc:
            yield _keyed_problem(exc, where, _notifier_fix(str(exc)))
            return
        notifier.close()
        yield Result(where, Status.OK, f"valid ({config.kind}; nothing sent: a test message would reach people)")

    # ---- the ledger --------------------------------------------------------------------------------------

    def _ledger(self, settings: Settings, fingerprint_id: str | None, seal_id: str | None) -> Iterator[Result]:
        configured = settings.ledger.url.get_secret_value() if settings.ledger.url else None
        if configured is None and not settings.data_dir.is_dir():
            yield _will_create("ledger", settings.data_dir, "the SQLite ledger")
            return
        try:
            url = database.ledger_url(configured, settings.data_dir)
        except ConfigError as exc:
            yield _keyed_problem(exc, "ledger.url", "sqlite:////var/lib/responder/ledger.sqlite3 or postgresql://…")
            return
        shown = database.shown(url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            yield _will_create("ledger", Path(url.database).parent, f"the SQLite ledger {url.database}")
            return
        if url.get_backend_name() != "sqlite" and self.offline:
            yield Result("ledger", Status.SKIPPED, f"{shown} not contacted (--offline)")
            return
        try:
            engine = database.create_ledger_engine(url, pool_size=1)
        except ConfigError as exc:
            yield _keyed_problem(exc, "ledger.url", "install the driver, or use sqlite:/// or postgresql://")
            return
        try:
            current = database.current_revision(engine)
            head = database.head_revision()
            pins = _pins(engine) if current == head else {}
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            reason = str(orig).strip().splitlines()[0] if orig is not None and str(orig).strip() else type(exc).__name__
            yield Result(
                "ledger",
                Status.FAILED,
                f"cannot open the ledger at {shown}: {reason}",
                "start the database or correct ledger.url (host, port, user, database name)",
            )
            return
        finally:
            engine.dispose()
        yield _revision_result(shown, current, head)
        for name, key, ours, fix in (
            ("seal", "ledger.seal_key", seal_id, "RESPONDER_LEDGER__SEAL_KEY"),
            ("fingerprint", "fingerprint_key", fingerprint_id, "RESPONDER_FINGERPRINT_KEY"),
        ):
            stored = pins.get(f"{name}_key_id")
            if stored is not None and stored != ours:
                held = f"this host's is {ours}" if ours else "this host would generate a new one"
                yield Result(
                    key,
                    Status.PROBLEM,
                    f"the ledger was started with another {name} key (id {stored}; {held})",
                    f"give every host sharing the ledger the same {fix}",
                )


# ---- helpers ---------------------------------------------------------------------------------------------


def _validation_result(
    error: ErrorDetails, model: type[BaseModel], prefix: str, raw: dict[str, Any], *, root: bool
) -> Result:
    """One pydantic error as key + message + fix. The input value is never used: it may be a secret."""
    loc = tuple(error["loc"])
    key = prefix + _key_of(loc, raw)
    if not loc or key.endswith("."):
        key = key.rstrip(".") or "config"
    container, field = _field_at(model, loc)
    leaf = next((str(part) for part in reversed(loc) if isinstance(part, str)), "")
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if root and loc and isinstance(loc[0], str) and (env := _env_name(loc)) and env in os.environ:
        message += f" (the value comes from {env})"
    if kind == "extra_forbidden":
        known = list(container.model_fields) if container is not None else []
        close = difflib.get_close_matches(leaf, known, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return Result(key, Status.PROBLEM, "unknown key", f"{hint}remove `{leaf}` or correct its spelling ({DOCS})")
    if kind == "missing" and field is not None:
        return Result(key, Status.PROBLEM, "required key missing", f"add `{leaf}` ({type_text(field)})")
    if field is not None and kind not in ("value_error", "assertion_error"):
        return Result(key, Status.PROBLEM, message, f"give {type_text(field)} ({DOCS})")
    return Result(key, Status.PROBLEM, message, f"correct it as the message says ({DOCS})")


def _key_of(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """("providers", 0, "token") → "providers.corp.token", the table named by its `name` as written."""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if isinstance(part, int):
            array = str(loc[index - 1]) if index else ""
            tables = raw.get(array) if index == 1 else None
            name = tables[part].get("name") if isinstance(tables, list) and part < len(tables) else None
            if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                parts.append(name)
            else:
                parts[-1:] = [f"{parts[-1] if parts else ''}[{part}]"]
        else:
            parts.append(part)
    return ".".join(parts)


def _field_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model holding the last named key of `loc`, and that key's field (None when unknown)."""
    container: type[BaseModel] | None = model
    field: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if container is None:
            return None, None
        if field is not None:
            container = nested_model(field)
            if container is None:
                return None, None
        field = container.model_fields.get(part)
        if field is None:
            return container, None
    return container, field


def _env_name(loc: tuple[int | str, ...]) -> str | None:
    if any(isinstance(part, int) for part in loc):
        return None
    prefix = str(Settings.model_config.get("env_prefix") or "")
    delimiter = str(Settings.model_config.get("env_nested_delimiter") or "__")
    return prefix + delimiter.join(str(part) for part in loc).upper()


def _secret_bases(fields: dict[str, FieldInfo]) -> list[str]:
    """Names of secrets a model takes: a secret field, or the stem of a `<x>_file` / `<x>_env` pair."""
    bases: list[str] = []
    for name, field in fields.items():
        if is_secret(field):
            base = name
        elif name.endswith("_file"):
            base = name.removesuffix("_file")
        elif name.endswith("_env"):
            base = name.removesuffix("_env")
        else:
            continue
        if base not in bases:
            bases.append(base)
    return bases


def _secret_fix(base: str, given: list[str], env: str | None) -> str:
    if len(given) > 1:
        return f"keep exactly one of {base}, {base}_file, {base}_env"
    if given and given[0].endswith("_file"):
        return "create the file with the secret in it, readable by responder's user, or correct the path"
    if given and given[0].endswith("_env"):
        return f"set {env} in responder's environment, or give {base}_file instead"
    return f"give the secret through {base}_file or {base}_env"


def _notifier_fix(message: str) -> str:
    if "use https" in message or "not an http(s) URL" in message:
        return "use the https:// URL the service gave you (plain http only to localhost)"
    if "at least" in message:
        return "use a long random secret (e.g. `openssl rand -hex 32`) and give the receiver the same one"
    if "give one of" in message:
        return "give it through the *_file or *_env key (readable only by responder)"
    return "correct it as the message says"


def _keyed_problem(exc: ConfigError, key: str, fix: str, *, exact: bool = False) -> Result:
    """A ConfigError as a result. Its text usually starts with the key it is about ("providers.corp.token_file:
    …"): that key is used (unless `exact`) and not repeated in the message."""
    text = str(exc)
    match = _KEYED.match(text)
    if match is None:
        return Result(key, Status.PROBLEM, text, fix)
    return Result(key if exact else match[1], Status.PROBLEM, match[2], fix)


def _plugin_problem(
    where: str, name: str, plugin: InstalledPlugin | None, plugins: dict[str, InstalledPlugin], kind: str
) -> Result:
    if plugin is not None:
        return Result(
            f"{where}.plugin",
            Status.PROBLEM,
            f"the {kind} plugin {name!r} ({plugin.target}) failed to load ({plugin.load_error})",
            "reinstall the package that provides it (RESPONDER_DEBUG=1 responder providers list shows more)",
        )
    close = difflib.get_close_matches(name, list(plugins), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    installed = ", ".join(sorted(plugins)) or "none"
    return Result(
        f"{where}.plugin",
        Status.PROBLEM,
        f"no {kind} plugin {name!r} is installed",
        f"{hint}use an installed plugin ({installed}) or install the package that provides {name!r}",
    )


def _will_generate(key: str, path: Path, data_dir: Path) -> Result:
    reason = _cannot_create(data_dir)
    if reason:
        return Result("data_dir", Status.PROBLEM, f"{key} would be generated into {path}, but {reason}", _DATA_DIR_FIX)
    return Result(
        key,
        Status.NOTE,
        f"not set: generated into {path} on first start",
        "hosts sharing one ledger need the same key: set it explicitly for them",
    )


def _will_create(key: str, directory: Path, what: str) -> Result:
    reason = _cannot_create(directory)
    if reason:
        return Result(
            "data_dir", Status.PROBLEM, f"{what} would be created in {directory}, but {reason}", _DATA_DIR_FIX
        )
    return Result(key, Status.OK, f"{what} is created on first start (in {directory})")


_DATA_DIR_FIX = "set data_dir (RESPONDER_DATA_DIR) to a directory responder's user may write"


def _cannot_create(directory: Path) -> str | None:
    """Why files could not be created in `directory` (made on demand), or None. Creates nothing."""
    probe = directory
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable by this user"
    return None


def _revision_result(shown: str, current: str | None, head: str | None) -> Result:
    if current == head:
        return Result("ledger", Status.OK, f"reachable at {shown}; schema up to date ({head})")
    if current is None:
        return Result(
            "ledger",
            Status.NOTE,
            f"reachable at {shown}; no schema yet: created on first start",
            "or create it now: responder ledger migrate",
        )
    pending = _pending_migrations(current, head)
    if pending is None:
        return Result(
            "ledger",
            Status.FAILED,
            f"reachable at {shown}, but its schema revision {current} is unknown to this responder (a newer one "
            "migrated it)",
            "upgrade responder on this host to the version the other hosts run",
        )
    return Result(
        "ledger",
        Status.NOTE,
        f"reachable at {shown}; {pending} migration(s) pending ({current} → {head}), applied on start",
        "or apply them now: responder ledger migrate",
    )


def _pending_migrations(current: str, head: str | None) -> int | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "responder.ledger:migrations")
    script = ScriptDirectory.from_config(config)
    if current not in {revision.revision for revision in script.walk_revisions()}:
        return None
    return sum(1 for _ in script.iterate_revisions(head, current))


def _pins(engine: Engine) -> dict[str, str]:
    """The key ids the ledger was started with (read only)."""
    with engine.connect().execution_options(readonly=True) as connection:
        rows = connection.execute(select(ledger_meta.c.name, ledger_meta.c.value)).all()
    return {str(name): str(value) for name, value in rows}


def _tables(raw: dict[str, Any], array: str) -> list[dict[str, Any]]:
    tables = raw.get(array)
    return [t for t in tables if isinstance(t, dict)] if isinstance(tables, list) else []


def _walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _walk(value, str(name))
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)
    else:
        yield key, node


def _secret_values(node: Any) -> Iterator[str]:
    """Every SecretStr in the loaded settings, plugin keys included."""
    if isinstance(node, SecretStr):
        yield node.get_secret_value()
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _secret_values(getattr(node, name))
        for value in (node.model_extra or {}).values():
            yield from _secret_values(value)
    elif isinstance(node, tuple | list):
        for item in node:
            yield from _secret_values(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _secret_values(item)


def _built(where: str, plugin: str, client: httpx.Client, make: Callable[[], Any]) -> tuple[Any, Result | None]:
    """An instance from its plugin's from_config, or the problem it names (the client is closed then)."""
    try:
        return make(), None
    except ConfigError as exc:
        client.close()
        return None, _keyed_problem(exc, where, f"correct the key named; {DOCS} lists every key")
    except Exception as exc:  # third-party code: its text could quote the table
        client.close()
        return None, Result(where, Status.PROBLEM, f"the {plugin} plugin refused the table ({type(exc).__name__})")


def _close(instance: Any) -> None:
    close = getattr(instance, "close", None)
    if callable(close):
        close()
