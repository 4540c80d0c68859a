"""Write the sanitized copy of one artifact, atomically, in the format it came in."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import ijson

from responder.errors import UnreadableArtifact
from responder.interfaces import ReadContext
from responder.model import Finding
from responder.plugins import ReaderRegistry
from responder.readers.jsonstream import TooDeep
from responder.readers.text import TextReader
from responder.sanitize.redactor import TextRedactor
from responder.settings import ScanSettings


class Sanitizer:
    def __init__(self, registry: ReaderRegistry, limits: ScanSettings) -> None:
        self._registry = registry
        self._limits = limits

    def write(self, source: Path, findings: Iterable[Finding], target: Path) -> list[str]:
        """Returns warnings. The target appears whole or not at all (temp file + rename)."""
        if target.resolve() == source.resolve():
            raise UnreadableArtifact(f"refusing to overwrite the original {source}; choose another --out-dir")
        redactor = TextRedactor(findings)
        ctx = self._context(redactor, "")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                self._rewrite(source, out, ctx, redactor)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp_name, 0o600)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return ctx.warnings

    def _context(self, redactor: TextRedactor, member: str) -> ReadContext:
        def rewrite_inner(path: Path, out: BinaryIO, inner_member: str) -> None:
            self._rewrite(path, out, self._context(redactor, inner_member), redactor)

        return ReadContext(limits=self._limits, member=member, rewrite_inner=rewrite_inner)

    def _rewrite(self, path: Path, out: BinaryIO, ctx: ReadContext, redactor: TextRedactor) -> None:
        with path.open("rb") as handle:
            head = handle.read(8192)
        reader = self._registry.choose(head, path.name)
        if reader is None:  # binary member of an archive: copied as is, after a byte-level pass
            out.write(redactor.redact_bytes(path.read_bytes()))
            return
        start = out.tell()
        try:
            reader.rewrite(path, out, redactor, ctx)
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, RecursionError, TooDeep):
            out.seek(start)
            out.truncate()
            ctx.warn("sanitized as text because the JSON is broken")
            TextReader().rewrite(path, out, redactor, ctx)
