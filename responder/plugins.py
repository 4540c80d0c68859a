"""Plugin discovery by entry point. Built-ins register through our own pyproject.toml, like anyone else's."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points

from responder.errors import PluginError
from responder.interfaces import Reader

READERS_GROUP = "responder.readers"


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
