"""Which attachments are worth fetching (by name and media type) and, once fetched, whether the first bytes
are a capture at all. Missing a capture leaves a live token on a ticket; fetching a few extra files costs one
download each, so the name test is generous and the byte test only refuses what cannot hold text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from responder.model import AttachmentRef

# Media types that name a capture whatever the file is called (a HAR exported as "network log").
HAR_MEDIA_TYPES = frozenset({"application/har+json", "application/x-har", "application/vnd.har+json"})
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"PK\x03\x04", b"PK\x05\x06")  # gzip; zip (HAR zips, Fiddler .saz); empty zip
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class CaptureFilter:
    names: tuple[str, ...]

    @classmethod
    def of(cls, patterns: Iterable[str]) -> CaptureFilter:
        return cls(tuple(p.lower() for p in patterns))

    def wants(self, ref: AttachmentRef) -> bool:
        name = ref.name.lower()
        media = (ref.content_type or "").split(";", 1)[0].strip().lower()
        return media in HAR_MEDIA_TYPES or any(fnmatchcase(name, pattern) for pattern in self.names)

    def pick(self, refs: Iterable[AttachmentRef]) -> list[AttachmentRef]:
        return [ref for ref in refs if self.wants(ref)]


def looks_like_capture(head: bytes) -> bool:
    """An archive (gzip, zip), or text: anything a reader could find a credential in. Refuses binary files
    (an image or a PDF renamed .txt): NUL bytes or undecodable text in the first 64 KiB."""
    if head.startswith(_ARCHIVE_MAGIC):
        return True
    if not head.strip():
        return False
    if b"\x00" in head:
        return False
    sample = head[:HEAD_BYTES]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(sample) - 4:
            return _mostly_text(sample)
    return True


def _mostly_text(sample: bytes) -> bool:
    """Latin-1 logs (a Windows tool's export) are text too: printable bytes dominate."""
    printable = sum(1 for byte in sample if byte in b"\t\n\r" or 32 <= byte < 127 or byte >= 160)
    return printable >= 0.95 * len(sample)
