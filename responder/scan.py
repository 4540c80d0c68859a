"""Artifact → findings. No network: readers → detectors → attribution → one finding per credential."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from responder.detect.pipeline import detect, forget_judged_strings
from responder.errors import UnreadableArtifact
from responder.interfaces import ReadContext, Reader
from responder.model import Candidate, Family, Field, Finding, Kind, Location, Observation, ProviderRef
from responder.plugins import ReaderRegistry
from responder.readers import har, httpparts
from responder.secret import Fingerprinter, Secret
from responder.settings import ProviderConfig, ScanSettings

_SPECIFICITY = {"cookie:catalog": 5, "param": 4, "header": 4, "authorization": 3, "shape": 2, "cookie": 1}
MAX_LOCATIONS = 1000  # per finding; the count is still reported
MAX_COMPANIONS = 10_000  # signature cookies remembered per artifact (they are small; this bounds memory)
SIGNATURE_SUFFIX = ".sig"  # `name.sig` signs cookie `name` (Express/Koa `cookies` keygrip, node oidc-provider)

_CompanionKey = tuple[str, int | None, str]  # (archive member, entry, signed cookie's name)


@dataclass(frozen=True, slots=True)
class ScanReport:
    path: Path
    sha256: str
    size: int
    reader: str
    warnings: tuple[str, ...]
    findings: tuple[Finding, ...]
    error: str | None = None
    incomplete: bool = False  # some part (an archive member) could not be read

    @property
    def readable(self) -> bool:
        return self.error is None


@dataclass
class _Accumulator:
    candidate: Candidate
    locations: dict[Location, None] = field(default_factory=dict)


class Attributor:
    """Picks the configured provider instance that claims a finding: by host, or by JWT issuer. An issuer
    only selects among configured instances; nothing taken from an artifact is ever called."""

    def __init__(self, providers: tuple[ProviderConfig, ...]) -> None:
        self._providers = providers

    def instance_for(self, candidate: Candidate, hosts: set[str]) -> ProviderConfig | None:
        """An issuer match wins over a host match in any order of configuration: two Entra tenants may both
        list login.microsoftonline.com, but a token's issuer names its own tenant."""
        issuer = candidate.claims.get("iss", "").rstrip("/")
        compatible = [
            p for p in self._providers if candidate.family is None or p.plugin in (candidate.family.value, "oidc")
        ]
        if issuer:
            for provider in compatible:
                if any(issuer == p or issuer.startswith(p + "/") for p in provider.issuer_prefixes()):
                    return provider
        return next((p for p in compatible if hosts & p.claimed_hosts()), None)


class Scanner:
    def __init__(
        self,
        registry: ReaderRegistry,
        fingerprint: Fingerprinter,
        limits: ScanSettings,
        providers: tuple[ProviderConfig, ...] = (),
    ) -> None:
        self._registry = registry
        self._fingerprint = fingerprint
        self._limits = limits
        self._attributor = Attributor(providers)
        # Hosts configured for a vendor family (custom domains), where its host-bound cookie formats apply.
        self._claimed = {
            host: family
            for provider in providers
            if (family := _family(provider.plugin)) is not None
            for host in provider.claimed_hosts()
        }

    def scan(self, path: Path) -> ScanReport:
        ctx = self._context()
        # The digest is computed on the second core while this one parses (hashlib releases the GIL).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool:
            digest_job = pool.submit(_digest, path)
            try:
                reader = self._reader_for(path)
                findings = self._findings(reader.read(path, ctx))
                size, digest = digest_job.result()
            except UnreadableArtifact as exc:
                return ScanReport(path, "", 0, "", tuple(ctx.warnings), (), error=str(exc))
            except OSError as exc:
                return ScanReport(path, "", 0, "", tuple(ctx.warnings), (), error=f"cannot read: {exc.strerror}")
            finally:
                forget_artifact_strings()
        used = "→".join(dict.fromkeys(ctx.formats_used)) or reader.name
        return ScanReport(path, digest, size, used, tuple(ctx.warnings), findings, incomplete=bool(ctx.skipped))

    def _context(self, member: str = "", parent: ReadContext | None = None) -> ReadContext:
        """Inner contexts (archive members) share the outer warnings and formats, so the report has them all."""
        ctx = ReadContext(limits=self._limits, member=member)
        if parent is not None:
            ctx.warnings, ctx.formats_used, ctx.skipped = parent.warnings, parent.formats_used, parent.skipped

        def read_inner(path: Path, inner: str) -> Iterator[Observation]:
            yield from self._reader_for(path).read(path, self._context(inner, ctx))

        ctx.read_inner = read_inner
        return ctx

    def _reader_for(self, path: Path) -> Reader:
        with path.open("rb") as handle:
            head = handle.read(8192)
        if not head:
            raise UnreadableArtifact("empty file")
        reader = self._registry.choose(head, path.name)
        if reader is None:
            raise UnreadableArtifact("binary data: not a HAR, a supported archive or a text capture")
        return reader

    def _findings(self, observations: Iterator[Observation]) -> tuple[Finding, ...]:
        merged: dict[str, _Accumulator] = {}
        hosts: dict[str, set[str]] = {}
        signatures: dict[_CompanionKey, Secret] = {}
        for obs in observations:
            _remember_signature(obs, signatures)
            for candidate in detect(obs, self._claimed):
                fingerprint = self._fingerprint(candidate.value)
                acc = merged.get(fingerprint)
                if acc is None:
                    acc = merged[fingerprint] = _Accumulator(candidate)
                elif _rank(candidate) > _rank(acc.candidate):
                    acc.candidate = _merge_claims(candidate, acc.candidate)
                if len(acc.locations) < MAX_LOCATIONS:
                    acc.locations[candidate.location or obs.location] = None
                if obs.location.host:
                    hosts.setdefault(fingerprint, set()).add(obs.location.host.lower())
        findings = [self._finding(fp, acc, hosts.get(fp, set()), signatures) for fp, acc in merged.items()]
        return tuple(mask_secret_claims(findings, {f.value.reveal(): f.fingerprint for f in findings}))

    def _finding(
        self, fingerprint: str, acc: _Accumulator, hosts: set[str], signatures: Mapping[_CompanionKey, Secret]
    ) -> Finding:
        candidate = acc.candidate
        instance = self._attributor.instance_for(candidate, hosts)
        family = candidate.family
        revocable = candidate.revocable
        if instance is not None:
            family = family or _family(instance.plugin)
            revocable = revocable or _instance_can_revoke(candidate.kind)
        return Finding(
            fingerprint=fingerprint,
            kind=candidate.kind,
            detector=candidate.detector,
            label=candidate.label,
            revocable=revocable,
            provider=ProviderRef(family, instance.name if instance else None),
            claims=dict(candidate.claims),
            expires_at=candidate.expires_at,
            locations=tuple(acc.locations),
            value=candidate.value,
            companions=_companions(candidate, acc.locations, signatures),
        )


def mask_secret_claims(findings: Iterable[Finding], by_value: Mapping[str, str]) -> Iterator[Finding]:
    """Claims are printed, so none may be a credential: a session cookie JWT's `sid` is the raw session key
    (authentik), and an ID token's `sid` can equal an Okta `sid` cookie, possibly found in another artifact
    of the same run. Such a claim becomes the fingerprint of the credential it equals; a session cookie's
    own `sid` its SHA-256 (the form in which authentik puts it into ID tokens, so the two still link)."""
    for finding in findings:
        claims = dict(finding.claims)
        for name, value in finding.claims.items():
            if value in by_value:
                claims[name] = f"fingerprint:{by_value[value][:16]}"
            elif name == "sid" and finding.kind is Kind.SESSION_COOKIE and not value.startswith("sha256:"):
                claims[name] = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        yield replace(finding, claims=claims) if claims != finding.claims else finding


def _remember_signature(obs: Observation, signatures: dict[_CompanionKey, Secret]) -> None:
    where = obs.location
    if where.field is not Field.COOKIE or where.entry is None or not where.name.endswith(SIGNATURE_SUFFIX):
        return
    if len(signatures) < MAX_COMPANIONS:
        signatures.setdefault((where.member, where.entry, where.name[: -len(SIGNATURE_SUFFIX)]), obs.value)


def _companions(
    candidate: Candidate, locations: Iterable[Location], signatures: Mapping[_CompanionKey, Secret]
) -> dict[str, Secret]:
    """The signature cookie sent beside a session cookie in the same request: without it, an OP that signs
    its cookies does not recognise the session (RP-initiated logout with the leaked session needs both)."""
    if candidate.kind is not Kind.SESSION_COOKIE or not signatures:
        return {}
    for location in locations:
        if location.field is Field.COOKIE:
            signature = signatures.get((location.member, location.entry, location.name))
            if signature is not None:
                return {location.name + SIGNATURE_SUFFIX: signature}
    return {}


def _rank(candidate: Candidate) -> int:
    prefix = candidate.detector.split(":", 1)[0]
    return _SPECIFICITY.get(candidate.detector, _SPECIFICITY.get(prefix, 0))


def _merge_claims(better: Candidate, other: Candidate) -> Candidate:
    if better.claims or not other.claims:
        return better
    return replace(better, claims=other.claims, expires_at=better.expires_at or other.expires_at)


def _family(plugin: str) -> Family | None:
    try:
        return Family(plugin)
    except ValueError:
        return None


def _instance_can_revoke(kind: Kind) -> bool:
    return kind in (Kind.SESSION_COOKIE, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.ID_TOKEN, Kind.JWT, Kind.API_KEY)


def forget_artifact_strings() -> None:
    """Empty every cache that holds strings taken from an artifact: decoded tokens, and the names the gates
    and catalogues judged (a token can travel as a name: `?<jwt>`). A scan calls this when it ends, so the
    service keeps no earlier upload's credential in memory; a scan running beside it only judges again."""
    forget_judged_strings()
    httpparts.forget_names()
    har.forget_names()


def _digest(path: Path) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()
