"""A local directory (or a mounted share) as a ticketing source, for small teams, demos and tests.

Layout: each subdirectory is a ticket (`<root>/<ticket>/<file>`; files directly in the root belong to ticket
"."). An attachment is one version of one file: its id is the relative path plus the modification time, so a
file written again is a new attachment and the sanitized copy that replaces a capture is recognised as
responder's own. Notes go to a hidden `.responder-notes` file in the ticket's directory (hidden files are
never listed). Symbolic links and anything resolving outside the root are skipped."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from responder.errors import AttachmentGone, AttachmentTooLarge, ConfigError, SourceError, WebhookRefused
from responder.interfaces import CheckResult
from responder.model import AttachmentRef, Replaced, SweepPage, WebhookNotice
from responder.secret import Secret

NOTES_FILE = ".responder-notes"
_CHUNK = 1024 * 1024


class FolderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the source's name, from the [[sources]] table")
    path: Path = Field(description="the directory swept; each subdirectory is one ticket")
    page_size: int = Field(default=200, gt=0, le=10_000, description="files per sweep page (one checkpoint each)")


class FolderSource:
    plugin: ClassVar[str] = "folder"
    settings_model: ClassVar[type[BaseModel]] = FolderSettings

    def __init__(self, settings: FolderSettings) -> None:
        self.name = settings.name
        self._root = settings.path.expanduser().resolve()
        self._page_size = settings.page_size

    @classmethod
    def from_config(
        cls, name: str, table: Mapping[str, Any], client: httpx.Client, webhook_secret: Secret | None
    ) -> FolderSource:
        client.close()  # a folder needs no HTTP
        if webhook_secret is not None:
            raise ConfigError(f"sources.{name}.webhook_secret: a folder source takes no webhooks")
        try:
            return cls(FolderSettings.model_validate(dict(table)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ConfigError(f"sources.{name}.{where}: {first['msg']}") from None

    # ---- listing ----------------------------------------------------------------------------------------

    def changed_since(self, cursor: str | None, since: datetime | None) -> Iterator[SweepPage]:
        """Files in (modification time, path) order after the cursor's position (or after `since`)."""
        after = _position(cursor, since)
        files = sorted(entry for entry in self._files() if (entry[0], entry[1]) > after)
        if not files:
            yield SweepPage(0, (), _cursor(after), done=True)
            return
        for start in range(0, len(files), self._page_size):
            page = files[start : start + self._page_size]
            refs = tuple(self._ref(mtime, relative, size) for mtime, relative, size in page)
            last = page[-1]
            yield SweepPage(
                tickets=len({ref.ticket_id for ref in refs}),
                attachments=refs,
                cursor=_cursor((last[0], last[1])),
                done=start + self._page_size >= len(files),
                reached=datetime.fromtimestamp(last[0] / 1e9, UTC),
            )

    def attachments_of(self, ticket_id: str) -> Sequence[AttachmentRef]:
        return [self._ref(m, r, s) for m, r, s in sorted(self._files()) if _ticket_of(r) == ticket_id]

    def _files(self) -> Iterator[tuple[int, str, int]]:
        if not self._root.is_dir():
            raise SourceError(f"source {self.name}: {self._root} is not a readable directory")
        for directory, subdirs, names in os.walk(self._root, followlinks=False):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            for filename in names:
                path = Path(directory, filename)
                if filename.startswith(".") or path.is_symlink():
                    continue
                try:
                    stat = path.stat()
                except OSError:
                    continue  # vanished while listing
                yield stat.st_mtime_ns, path.relative_to(self._root).as_posix(), stat.st_size

    def _ref(self, mtime_ns: int, relative: str, size: int) -> AttachmentRef:
        return AttachmentRef(
            ticket_id=_ticket_of(relative),
            attachment_id=f"{relative}@{mtime_ns}",
            name=relative.rsplit("/", 1)[-1],
            size=size,
        )

    # ---- acting on one file -----------------------------------------------------------------------------

    def download(self, ref: AttachmentRef, max_bytes: int, out: BinaryIO) -> int:
        path = self._current(ref)
        if path.stat().st_size > max_bytes:
            raise AttachmentTooLarge(f"{ref.name}: larger than {max_bytes} bytes")
        copied = 0
        with path.open("rb") as source:
            while chunk := source.read(_CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    raise AttachmentTooLarge(f"{ref.name}: larger than {max_bytes} bytes")
                out.write(chunk)
        return copied

    def replace_with_sanitized(self, ref: AttachmentRef, sanitized: Path, name: str) -> Replaced:
        """The sanitized bytes take the original's place atomically (same name, same directory)."""
        path = self._current(ref)
        handle, temporary = tempfile.mkstemp(prefix=".responder-", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out, sanitized.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise SourceError(f"source {self.name}: cannot replace {ref.name} ({exc.strerror})") from None
        stat = path.stat()
        relative = path.relative_to(self._root).as_posix()
        return Replaced(copy=self._ref(stat.st_mtime_ns, relative, stat.st_size), how="replaced in place")

    def annotate(self, ref: AttachmentRef, note: str) -> None:
        directory = self._root if ref.ticket_id == "." else self._inside(self._root / ref.ticket_id)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # O_NOFOLLOW: a `.responder-notes` planted as a link must not make responder write outside the folder.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
        try:
            handle = os.open(directory / NOTES_FILE, flags, 0o600)
        except OSError as exc:
            raise SourceError(f"source {self.name}: cannot write the note ({exc.strerror})") from None
        with os.fdopen(handle, "a", encoding="utf-8") as notes:
            notes.write(f"--- {stamp}\n{note.rstrip()}\n\n")

    def _current(self, ref: AttachmentRef) -> Path:
        """The file this version names, or AttachmentGone when it was removed or written again since."""
        relative, _, mtime = ref.attachment_id.rpartition("@")
        listed = self._root / relative
        if listed.is_symlink():  # replaced by a link since it was listed: never followed
            raise AttachmentGone(f"{ref.name}: is now a link; links are not followed")
        path = self._inside(listed)
        try:
            current = path.stat().st_mtime_ns
        except OSError:
            raise AttachmentGone(f"{ref.name}: no longer in the folder") from None
        if str(current) != mtime:
            raise AttachmentGone(f"{ref.name}: changed since it was listed (the new version is its own item)")
        return path

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self._root):
            raise AttachmentGone("a path outside the source folder was refused")
        return resolved

    # ---- the rest of the protocol ------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookNotice:
        raise WebhookRefused("not_enabled")

    def check(self) -> CheckResult:
        if not self._root.is_dir():
            return CheckResult(False, f"{self._root} is not a directory")
        if not os.access(self._root, os.R_OK | os.W_OK | os.X_OK):
            return CheckResult(False, f"{self._root} must be readable and writable by responder")
        return CheckResult(True, f"{self._root} is readable and writable")

    def close(self) -> None:
        return None


def _ticket_of(relative: str) -> str:
    return relative.split("/", 1)[0] if "/" in relative else "."


def _position(cursor: str | None, since: datetime | None) -> tuple[int, str]:
    if cursor:
        try:
            mtime, path = json.loads(cursor)
            return int(mtime), str(path)
        except (ValueError, TypeError):
            raise SourceError("the folder cursor is unreadable; sweep again with --since") from None
    if since is not None:
        return int(since.timestamp() * 1_000_000_000), ""
    return -1, ""


def _cursor(position: tuple[int, str]) -> str:
    return json.dumps([position[0], position[1]])
