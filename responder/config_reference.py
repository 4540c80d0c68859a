"""The configuration reference (docs/configuration.md), rendered from the settings models and from each installed
plugin's own `settings_model`, so the documentation is the validation code read aloud and cannot drift from it."""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from responder.notify.settings import NotifierConfig
from responder.plugins import PROVIDERS_GROUP, SOURCES_GROUP
from responder.settings import ApiKeyConfig, ProviderConfig, Settings, SourceConfig

REGENERATE = "responder config reference > docs/configuration.md"
# load_settings also reads this short form of RESPONDER_LEDGER__URL.
_ENV_ALIASES = {"ledger.url": "RESPONDER_LEDGER_URL"}
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path", SecretStr: "secret"}
_MiB = 1024 * 1024

PluginKind = Literal["provider", "source"]


@dataclass(frozen=True, slots=True)
class InstalledPlugin:
    """One entry point of a plugin group: its class and settings model, or why it could not be loaded."""

    kind: PluginKind
    name: str
    target: str  # "module:Class", as registered
    plugin: Any = None  # the loaded class; None when loading failed
    settings_model: type[BaseModel] | None = None
    load_error: str = ""


def installed_plugins(kind: PluginKind) -> tuple[InstalledPlugin, ...]:
    """Every installed plugin of a kind, sorted by name. A plugin that fails to import is listed with the type
    of its error (its text could quote anything), never raised: a broken plugin must not hide the others."""
    group = PROVIDERS_GROUP if kind == "provider" else SOURCES_GROUP
    found: dict[str, InstalledPlugin] = {}
    for entry in sorted(entry_points(group=group), key=lambda e: (e.name, e.value)):
        if entry.name in found:
            continue  # two distributions registering one name: the first wins, as in entry_points lookups
        try:
            plugin = entry.load()
        except Exception as exc:
            found[entry.name] = InstalledPlugin(kind, entry.name, entry.value, load_error=type(exc).__name__)
            continue
        model = getattr(plugin, "settings_model", None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            model = None
        found[entry.name] = InstalledPlugin(kind, entry.name, entry.value, plugin, model)
    return tuple(found.values())


# ---- one key ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyDoc:
    key: str
    type: str
    default: str
    required: bool
    description: str
    env: str = ""
    secret: bool = False
    secret_alternatives: tuple[str, ...] = ()  # the sibling keys that give the secret by file or environment


def key_docs(model: type[BaseModel], *, env_prefix: str = "", path: str = "") -> list[KeyDoc]:
    """A row per field, in declaration order. `env_prefix` names environment variables (root settings only)."""
    fields = model.model_fields
    docs = []
    for name, field in fields.items():
        key = f"{path}{name}"
        env = ""
        if env_prefix:
            env = env_prefix + key.replace(".", _nested_delimiter()).upper()
            if alias := _ENV_ALIASES.get(key):
                env = f"{env} or {alias}"
        secret = is_secret(field)
        alternatives = tuple(
            f"{name}{suffix}" for suffix in ("_file", "_env") if secret and f"{name}{suffix}" in fields
        )
        docs.append(
            KeyDoc(
                key=key,
                type=type_text(field),
                default=default_text(name, field),
                required=field.is_required(),
                description=description_of(model, name),
                env=env,
                secret=secret,
                secret_alternatives=alternatives,
            )
        )
    return docs


def description_of(model: type[BaseModel], name: str) -> str:
    """The field's description, else the nearest base model's (a plugin narrowing `plugin` or `base_url`
    keeps the common key's meaning)."""
    for klass in model.__mro__:
        if isinstance(klass, type) and issubclass(klass, BaseModel):
            field = klass.model_fields.get(name)
            if field is not None and field.description:
                return field.description
    return ""


def is_secret(field: FieldInfo) -> bool:
    return SecretStr in _leaves(field.annotation)


def _leaves(annotation: Any) -> Iterator[Any]:
    args = get_args(annotation)
    if not args:
        yield annotation
    for arg in args:
        yield from _leaves(arg)


def _nested_delimiter() -> str:
    return str(Settings.model_config.get("env_nested_delimiter") or "__")


# ---- types, constraints, defaults ------------------------------------------------------------------------


def type_text(field: FieldInfo) -> str:
    text = annotation_text(field.annotation)
    limits = constraint_texts(field.metadata)
    return f"{text}, {', '.join(limits)}" if limits else text


def annotation_text(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        named = [annotation_text(arg) for arg in get_args(annotation) if arg is not type(None)]
        return " or ".join(named)
    if origin is Literal:
        values = [f"`{value}`" for value in get_args(annotation)]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    if origin in (tuple, list, frozenset, set):
        item = get_args(annotation)[0] if get_args(annotation) else Any
        inner = annotation_text(item)
        return f"list of ({inner})" if get_origin(item) is Literal else f"list of {inner}"
    if origin is dict:
        return f"table of {annotation_text(get_args(annotation)[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def constraint_texts(metadata: Iterable[Any]) -> list[str]:
    words = []
    for item in metadata:
        for attribute, shown in (("gt", "> {}"), ("ge", "≥ {}"), ("lt", "< {}"), ("le", "≤ {}")):
            if getattr(item, attribute, None) is not None:
                words.append(shown.format(getattr(item, attribute)))
        if getattr(item, "min_length", None) is not None:
            words.append(f"at least {item.min_length} long")
        if getattr(item, "max_length", None) is not None:
            words.append(f"at most {item.max_length} long")
        if getattr(item, "pattern", None) is not None:
            words.append(f"matching `{item.pattern}`")
    return words


def default_text(name: str, field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "see description"  # a factory may depend on the machine (data_dir): never rendered here
    if field.default is PydanticUndefined:
        return ""
    if field.default is None:
        return "unset"
    if isinstance(field.default, BaseModel):
        return f"see `[{name}]`"
    text = f"`{toml_value(field.default)}`"
    if name.endswith("_bytes") and isinstance(field.default, int) and field.default % _MiB == 0:
        mib = field.default // _MiB
        text += f" ({mib // 1024} GiB)" if mib % 1024 == 0 else f" ({mib} MiB)"
    return text


def toml_value(value: Any) -> str:
    """A default as it would be written in the TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list | frozenset | set):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items())
        return "{ " + pairs + " }" if pairs else "{}"
    return str(value)


# ---- the document ----------------------------------------------------------------------------------------


_HEADER = f"""# Configuration reference

<!-- Generated from the settings models; do not edit by hand. Regenerate with:
     {REGENERATE}
     (tests/config/test_reference.py fails when this file and the models disagree.) -->

responder reads one TOML file (`--config PATH`, or the `RESPONDER_CONFIG` environment variable) and
`RESPONDER_*` environment variables; **the environment wins** over the file. A nested key is named with `__`:
`[serve] port` is `RESPONDER_SERVE__PORT`. An array of tables (`[[providers]]`, `[[sources]]`, `[[api_keys]]`)
can only be given whole in the environment, as JSON. An annotated example of every key is in
`config/responder.example.toml`.

Secrets (keys, tokens, passwords) never belong in the file: each secret key below names its `_file` (a path
readable only by responder's user) and `_env` (the name of an environment variable) alternatives; give exactly
one of the three. responder never prints or logs a secret value.

## Checking a configuration

```sh
responder config check --config /etc/responder/responder.toml            # everything, with live credentials
responder config check --config /etc/responder/responder.toml --offline  # no network call at all
responder config check --format json                                     # for machines
```

`config check` loads and validates every key below, every `[[providers]]` table through its plugin's settings
model, every `[[sources]]` table through its plugin when that plugin is installed, every `[[notifiers]]` table
as `serve` builds it (its URL and secrets; no message is sent), the API keys, responder's own keys and every
secret file or variable (readable, not empty), and whether the ledger is reachable and migrated. Unless
`--offline`, each provider instance (and each source whose plugin can) then proves its URL and responder's
credentials with one harmless read, as `responder providers check` does. Each problem is printed with its key
(e.g. `providers.corp.token_file`) and a fix; no secret value is ever printed.

Exit status: **0** all good, **2** configuration problems (fix the file or the environment), **1** a check
failed (an IdP refused responder's credentials, the ledger did not answer).

This page is generated from the installed code: `{REGENERATE}`.
"""


def render_reference(
    providers: Iterable[InstalledPlugin] | None = None, sources: Iterable[InstalledPlugin] | None = None
) -> str:
    """The whole reference as Markdown. Deterministic: the same models and plugins give the same bytes."""
    provider_plugins = tuple(installed_plugins("provider") if providers is None else providers)
    source_plugins = tuple(installed_plugins("source") if sources is None else sources)
    prefix = str(Settings.model_config.get("env_prefix") or "")
    parts = [_HEADER]

    parts.append("## Top-level keys\n")
    root = [doc for doc in key_docs(Settings, env_prefix=prefix) if not _is_table(Settings, doc.key)]
    parts.append(_table(root, with_env=True))
    for name, field in Settings.model_fields.items():
        model = nested_model(field)
        if model is not None and not _is_array(Settings, name):
            about = description_of(Settings, name)
            parts.append(f"## `[{name}]`\n\n{about[:1].upper()}{about[1:]}.\n")
            parts.append(_table(key_docs(model, env_prefix=prefix, path=f"{name}."), with_env=True))

    parts.append(
        "## `[[api_keys]]`\n\nWho may call the service, one table per caller. Only the SHA-256 of each key is "
        f"stored. Environment: `{prefix}API_KEYS` (a JSON array).\n"
    )
    parts.append(_table(key_docs(ApiKeyConfig)))
    parts.append(
        "## `[[providers]]`\n\nOne table per identity-provider instance. Every table has these keys; the rest "
        "belong to its `plugin`, whose settings model (below) validates the whole table: an unknown key is an "
        f"error. Environment: `{prefix}PROVIDERS` (a JSON array).\n"
    )
    parts.append(_table(key_docs(ProviderConfig)))
    parts.append(
        "## `[[sources]]`\n\nOne table per ticketing system. Every table has these keys; the rest belong to its "
        f"`plugin` (below). Environment: `{prefix}SOURCES` (a JSON array).\n"
    )
    parts.append(_table(key_docs(SourceConfig)))
    parts.append(
        "## `[[notifiers]]`\n\nOne table per destination of the messages sent for each intake with live "
        "credentials and each panic (docs/notifications.md). Keys of another `kind` are refused. "
        f"Environment: `{prefix}NOTIFIERS` (a JSON array).\n"
    )
    parts.append(_table(key_docs(NotifierConfig)))

    parts.append("## Provider plugins\n\nThe keys of a `[[providers]]` table, per `plugin`.\n")
    parts.extend(_plugin_section(plugin) for plugin in provider_plugins)
    if not provider_plugins:
        parts.append("No provider plugin is installed.\n")
    parts.append("## Source plugins\n\nThe keys of a `[[sources]]` table, per `plugin`.\n")
    parts.extend(_plugin_section(plugin) for plugin in source_plugins)
    if not source_plugins:
        parts.append("No source plugin is installed: `[[sources]]` tables take the common keys above only.\n")
    return "\n".join(parts)


def _plugin_section(plugin: InstalledPlugin) -> str:
    title = f"### `{plugin.name}`\n\nPlugin `{plugin.target}`"
    if plugin.load_error:
        return f"{title}: failed to load ({plugin.load_error}).\n"
    if plugin.settings_model is None:
        return f"{title}: no settings model; the plugin reads its table itself (the common keys apply).\n"
    doc = (plugin.settings_model.__doc__ or "").strip()
    summary = " " + " ".join(doc.split("\n\n")[0].split()) if doc else ""  # the docstring's first paragraph
    return f"{title}, settings model `{plugin.settings_model.__name__}`.{summary}\n\n" + _table(
        key_docs(plugin.settings_model)
    )


def _table(docs: Iterable[KeyDoc], *, with_env: bool = False) -> str:
    head = ["Key", "Type", "Default", "Required", "Description"] + (["Environment"] if with_env else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for doc in docs:
        description = doc.description.rstrip(".")
        if doc.secret_alternatives:
            alternatives = " or ".join(f"`{name}`" for name in doc.secret_alternatives)
            description += f". **Secret**: prefer {alternatives}"
        elif doc.secret:
            description += ". **Secret**: prefer the environment variable" if doc.env else ". **Secret**"
        cells = [f"`{doc.key}`", doc.type, doc.default, "yes" if doc.required else "", description]
        if with_env:
            cells.append(" or ".join(f"`{name}`" for name in doc.env.split(" or ")) if doc.env else "")
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def nested_model(field: FieldInfo) -> type[BaseModel] | None:
    """The model a field holds (alone, optional or as a list), or None for a plain value."""
    for leaf in _leaves(field.annotation):
        if isinstance(leaf, type) and issubclass(leaf, BaseModel):
            return leaf
    return None


def _is_table(model: type[BaseModel], name: str) -> bool:
    return nested_model(model.model_fields[name]) is not None


def _is_array(model: type[BaseModel], name: str) -> bool:
    return get_origin(model.model_fields[name].annotation) in (tuple, list)
