"""gzip and zip containers. Members are spooled to a private temp dir under hard limits (size, ratio,
member count) and handed back to the registry, so a HAR inside a zip is read by the HAR reader."""

from __future__ import annotations

import gzip
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, ClassVar

from responder.errors import UnreadableArtifact
from responder.interfaces import ReadContext, Redactor
from responder.model import Observation
from responder.settings import ScanSettings

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
MAX_NESTING = 2
_SMALL = 1 << 20  # below this, a high ratio is harmless (a tiny text zips very well)


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    path: Path
    truncated: bool = False


class ArchiveReader:
    name: ClassVar[str] = "archive"

    def sniff(self, head: bytes, filename: str) -> int:
        # The magic bytes are unambiguous: they win over a stored (uncompressed) HAR member whose `"log"` shows
        # (90); a Fiddler session archive (a zip too) is claimed by the SAZ reader (95).
        return 95 if head.startswith(GZIP_MAGIC) else 92 if head.startswith(ZIP_MAGIC) else 0

    def read(self, path: Path, ctx: ReadContext) -> Iterator[Observation]:
        if ctx.read_inner is None:
            raise UnreadableArtifact("archive reader needs a registry to read members")
        with extracted(path, ctx) as members:
            ctx.formats_used.append("gzip" if _is_gzip(path) else "zip")
            for member in members:
                if member.truncated:
                    ctx.warn(f"{member.name} is truncated; scanned what could be decompressed")
                try:
                    yield from ctx.read_inner(member.path, _nested_name(ctx.member, member.name))
                except UnreadableArtifact as exc:
                    ctx.skip(member.name, str(exc))

    def rewrite(self, path: Path, out: BinaryIO, redactor: Redactor, ctx: ReadContext) -> None:
        if ctx.rewrite_inner is None:
            raise UnreadableArtifact("archive reader needs a registry to rewrite members")
        with extracted(path, ctx) as members, tempfile.TemporaryDirectory(prefix="responder-") as tmp:
            clean: list[Member] = []
            for index, member in enumerate(members):
                target = Path(tmp) / f"{index}.out"
                with target.open("wb") as handle:
                    ctx.rewrite_inner(member.path, handle, _nested_name(ctx.member, member.name))
                clean.append(Member(member.name, target))
            if _is_gzip(path):
                with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as zipped, clean[0].path.open("rb") as src:
                    shutil.copyfileobj(src, zipped)
                return
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for member in clean:
                    archive.write(member.path, member.name)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _nested_name(outer: str, inner: str) -> str:
    return f"{outer}!/{inner}" if outer else inner


def _refuse(what: str, limits: ScanSettings) -> UnreadableArtifact:
    return UnreadableArtifact(
        f"refused: {what}; this looks like a decompression bomb (limits: [scan] max_decompressed_bytes="
        f"{limits.max_decompressed_bytes}, max_ratio={limits.max_ratio}, max_members={limits.max_members})"
    )


@contextmanager
def extracted(path: Path, ctx: ReadContext) -> Iterator[list[Member]]:
    if ctx.member.count("!/") >= MAX_NESTING:
        raise UnreadableArtifact(f"archive nested more than {MAX_NESTING} deep")
    with tempfile.TemporaryDirectory(prefix="responder-") as tmp:
        if _is_gzip(path):
            inner = path.name[: -len(".gz")] if path.name.endswith(".gz") else path.name + ".out"
            target = Path(tmp) / "0"
            _, truncated = _bounded_copy(partial(gzip.open, path, "rb"), target, path.stat().st_size, ctx.limits, inner)
            yield [Member(inner, target, truncated)]
            return
        yield _unzip(path, Path(tmp), ctx.limits)


def _unzip(path: Path, tmp: Path, limits: ScanSettings) -> list[Member]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableArtifact(f"not a readable zip archive ({exc})") from None
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if len(infos) > limits.max_members:
            raise _refuse(f"the zip holds {len(infos)} files (limit {limits.max_members})", limits)
        declared = sum(info.file_size for info in infos)
        compressed = max(path.stat().st_size, 1)
        _check(declared, compressed, limits, "the zip")
        members: list[Member] = []
        total = 0
        for index, info in enumerate(infos):
            if info.flag_bits & 0x1:
                raise UnreadableArtifact(f"encrypted zip member {info.filename!r}: cannot be scanned")
            safe_name = _safe_member_name(info.filename, index)
            target = tmp / str(index)
            written, truncated = _bounded_copy(
                partial(archive.open, info), target, max(info.compress_size, 1), limits, safe_name, already=total
            )
            total += written
            members.append(Member(safe_name, target, truncated))
        return members


def _safe_member_name(name: str, index: int) -> str:
    """No absolute paths or `..` in names we report or write back into a sanitized archive."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("..", ".", "/")]
    return "/".join(parts) or f"member-{index}"


def _check(size: int, compressed: int, limits: ScanSettings, what: str) -> None:
    if size > limits.max_decompressed_bytes:
        raise _refuse(f"{what} expands to {size} bytes", limits)
    if size > _SMALL and size / compressed > limits.max_ratio:
        raise _refuse(f"{what} expands {size // compressed}:1", limits)


def _bounded_copy(
    opener: Callable[[], IO[bytes] | gzip.GzipFile],
    target: Path,
    compressed: int,
    limits: ScanSettings,
    name: str,
    *,
    already: int = 0,
) -> tuple[int, bool]:
    """Decompress while counting: declared sizes in a zip can lie, so the real bytes are what is limited.
    Returns (bytes written, whether the data ended early)."""
    written = 0
    try:
        with opener() as src, target.open("wb") as dst:
            while chunk := src.read(1 << 16):
                written += len(chunk)
                dst.write(chunk)
                if already + written > limits.max_decompressed_bytes:
                    raise _refuse(f"{name} expands beyond {limits.max_decompressed_bytes} bytes", limits)
                if written > _SMALL and written / compressed > limits.max_ratio:
                    raise _refuse(f"{name} expands more than {limits.max_ratio}:1", limits)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        if written and not isinstance(exc, gzip.BadGzipFile):
            return written, True  # a truncated upload: what did decompress still carries tokens
        raise UnreadableArtifact(f"{name}: corrupt or truncated compressed data ({type(exc).__name__})") from None
    return written, False
