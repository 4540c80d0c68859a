"""Observation → candidates. Named rules first (the place a value travels under is the best evidence),
then JWTs and vendor shapes anywhere in the value. Each value is judged once per observation."""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import cache
from types import MappingProxyType
from urllib.parse import unquote_plus

from responder.detect import catalog, gate, names
from responder.detect.catalog import SUSPICIOUS_COOKIE_NAME, cookie_format
from responder.detect.expand import ANCHORS, HELPER_ANCHORS, MARKED_URL, expand
from responder.detect.jwt import ANCHOR as JWT_ANCHOR
from responder.detect.jwt import decode, find_jwts
from responder.detect.scanner import AnchorSearch, TextIndex
from responder.detect.shapes import SHAPES, find_shapes
from responder.detect.values import is_credential_like, is_placeholder, looks_like_code
from responder.model import Candidate, Family, Field, Kind, Observation
from responder.secret import Secret

FREE_TEXT = frozenset({Field.BODY, Field.TEXT_LINE, Field.WS_MESSAGE, Field.EXTENSION})
_GENERIC_KINDS = frozenset({Kind.JWT})
_URLISH_CONTEXTS = frozenset({"param", "param-loose", "url", "location", "referer", "redirectURL"})
_FREE_TEXT_FIELDS = FREE_TEXT | {Field.JSON_BODY}
# Free text up to this length that holds no anchor is skipped. The anchors are found anyway (one automaton
# pass that the detectors then share), so the check costs nothing at any length; tests set -1 to switch it off.
PREFILTER_MAX = sys.maxsize


NO_CLAIMS: Mapping[str, Family] = MappingProxyType({})
# Browsers keep a cookie to 4 KiB and servers refuse header lines over 8-16 KiB: a longer "cookie" or
# "Authorization" value is no credential anyone can replay (and would only make the sanitizer's pattern huge).
MAX_HEADER_CREDENTIAL = 16 * 1024


def detect(obs: Observation, claimed: Mapping[str, Family] = NO_CLAIMS) -> Iterator[Candidate]:
    """`claimed`: hosts configured for an IdP family (an Okta custom domain), where that family's host-bound
    cookie formats apply as on the vendor's own domains."""
    seen: set[str] = set()
    field = obs.location.field
    if field is Field.EXTENSION or (field in _FREE_TEXT_FIELDS and not obs.location.name):  # vendor keys say nothing
        text = obs.value.reveal()
        yield from _free_text(obs, text_index(text), claimed, seen)
        if "%" in text and _URL_ENCODED.search(text) is not None:
            yield from _url_encoded(obs, text, claimed, seen)
        return
    if _known_non_credential(obs, claimed):
        return
    yield from _once(_named(obs, claimed), seen)
    yield from _once(_anywhere(obs, text_index(obs.value.reveal()), strict=obs.location.field in FREE_TEXT), seen)


def _free_text(
    obs: Observation, index: TextIndex, claimed: Mapping[str, Family], seen: set[str]
) -> Iterator[Candidate]:
    if len(index.text) <= PREFILTER_MAX and not _holds_anchor(index):
        return
    if obs.context != "script":
        for derived in expand(obs, index):
            yield from _once(_named(derived, claimed), seen)
    yield from _once(_anywhere(obs, index, strict=True), seen)


# An encoded `:`, `=`, `&`, space or line break: text that went through a form or a URL on its way here (an
# upload sent as `file=Authorization%3A+Bearer+…`, a logged query string). Its header lines and pairs show
# only once it is decoded.
_URL_ENCODED = re.compile(r"%(?:3[ad]|2[06]|0[ad])", re.IGNORECASE)


def _url_encoded(obs: Observation, text: str, claimed: Mapping[str, Family], seen: set[str]) -> Iterator[Candidate]:
    """The credentials only the decoded text shows. Where a `+` was a plus (base64), not a space, decoding
    cuts a token the raw text showed whole: a value with a space, or a part of a value found already, is
    such a cut and is left out."""
    decoded = unquote_plus(text, errors="surrogateescape")  # `%E9` stays that byte, so the copy can match it
    if decoded == text:
        return
    found = tuple(seen)
    for candidate in _free_text(replace(obs, value=Secret(decoded)), text_index(decoded), claimed, seen):
        value = candidate.value.reveal()
        if not _SPACE.search(value) and not any(value in whole for whole in found):
            yield candidate


_SPACE = re.compile(r"\s")


def text_index(text: str) -> TextIndex:
    """Where the literals every text detector starts from occur in `text`: `expand`'s anchors, JWT and
    vendor-shape prefixes (searched case-insensitively; the case-sensitive ones are checked per position)."""
    return _search().index(text)


@cache
def _search() -> AnchorSearch:
    triggers = [trigger for shape in SHAPES for trigger in shape.triggers]
    return AnchorSearch((*ANCHORS, *HELPER_ANCHORS, *triggers, JWT_ANCHOR))


def forget_judged_strings() -> None:
    """Empty the detectors' caches, which hold strings from artifacts: decoded tokens, and the names the gates
    and catalogue judged (see responder.scan.forget_artifact_strings)."""
    for cached in (decode, gate.cookie_name, gate.header_name, gate.param_name, names.normalise, catalog._rows_named):
        cached.cache_clear()


def may_hold_anything(text: str) -> bool:
    """False only if free text holds none of the literals the text detectors start from (`expand`'s anchors,
    JWT and vendor-shape prefixes) and no URL with a query, fragment or userinfo: then none can find anything."""
    return _holds_anchor(text_index(text))


_NOT_STARTS = frozenset(HELPER_ANCHORS)  # anchors that alone start no detector


def _holds_anchor(index: TextIndex) -> bool:
    if not index.hits.keys() <= _NOT_STARTS:  # an anchor that starts a detector (no set is built)
        return True
    # No anchor: worth expanding only for a URL with a query, fragment or userinfo. URLs are not anchors (a
    # JSON body holds dozens); MARKED_URL starts with a literal, which re finds at C speed.
    return MARKED_URL.search(index.text) is not None


def _known_non_credential(obs: Observation, claimed: Mapping[str, Family]) -> bool:
    """Known non-credentials are not scanned further, even when the value is JWT-shaped: catalogued cookies
    (CSRF, device id, Keycloak's KC_RESTART), OAuth `state`/`nonce` (often a signed JWT), CSRF and DPoP-proof
    headers (a DPoP proof is bound to one request and cannot be replayed elsewhere)."""
    field, name = obs.location.field, obs.location.name
    if field in (Field.COOKIE, Field.SET_COOKIE):
        row = cookie_format(name, obs.location.host, obs.value.reveal(), _family_of(obs.location.host, claimed))
        return row is not None and row.kind is None
    if field is Field.HEADER:
        return bool(names.NON_CREDENTIAL_HEADER.search(name)) or name.lower() == "dpop"
    return bool(name) and names.normalise(name) in names.NON_CREDENTIAL_PARAMS


def _once(candidates: Iterator[Candidate], seen: set[str]) -> Iterator[Candidate]:
    for candidate in candidates:
        value = candidate.value.reveal()
        if value not in seen:
            seen.add(value)
            yield candidate


def _family_of(host: str, claimed: Mapping[str, Family]) -> Family | None:
    return claimed.get(host.lower()) if claimed else None


def _named(obs: Observation, claimed: Mapping[str, Family] = NO_CLAIMS) -> Iterator[Candidate]:
    field, context = obs.location.field, obs.context
    name = names.normalise(obs.location.name)
    if not name:
        return
    if name in names.AUTHORIZATION_HEADERS:
        yield from _authorization(obs)
    elif field in (Field.COOKIE, Field.SET_COOKIE) or context in ("cookie", "set-cookie"):
        yield from _cookie(obs, claimed=claimed)
    elif field == Field.HEADER or context == "header":
        if not names.NON_CREDENTIAL_HEADER.search(name) and obs.location.name.lower() != "dpop":
            yield from _header(obs, name)
    elif name not in names.NON_CREDENTIAL_PARAMS:
        yield from _param(obs, name)
        if context == "pair":  # a name/value object from a broken HAR: may be a header or cookie too
            yield from _header(obs, name)
            yield from _cookie(obs, catalogued_only=True, claimed=claimed)


def _authorization(obs: Observation) -> Iterator[Candidate]:
    raw = obs.value.reveal().strip()
    scheme, _, credential = raw.partition(" ")
    credential = credential.strip()
    if len(credential) > MAX_HEADER_CREDENTIAL:
        return
    if not credential:  # a bare token with no scheme
        scheme, credential = "", scheme
    lowered = scheme.lower()
    if lowered in names.NON_REPLAYABLE_SCHEMES or is_placeholder(credential):
        return
    kind, label, family = names.AUTH_SCHEMES.get(lowered, (Kind.API_KEY, "credential in Authorization", None))
    if (
        lowered not in names.AUTH_SCHEMES
        and not (scheme == "" and len(credential) >= 8)
        and not (is_credential_like(credential, min_length=8))
    ):
        return
    if lowered == "basic" and not _is_basic_pair(credential):
        return
    if kind is Kind.ACCESS_TOKEN:  # a bearer may be a vendor token with a known shape
        for shape, value in find_shapes(text_index(credential)):
            if value == credential:
                yield _build(obs, credential, shape.kind, f"shape:{shape.name}", shape.label, shape.family)
                return
    yield _build(obs, credential, kind, f"authorization:{lowered or 'bare'}", label, family, keep_kind=True)


def _is_basic_pair(credential: str) -> bool:
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return ":" in decoded


def _cookie(
    obs: Observation, *, catalogued_only: bool = False, claimed: Mapping[str, Family] = NO_CLAIMS
) -> Iterator[Candidate]:
    name, value = obs.location.name, obs.value.reveal()
    if is_placeholder(value) or not 4 <= len(value) <= MAX_HEADER_CREDENTIAL:
        return
    row = cookie_format(name, obs.location.host, value, _family_of(obs.location.host, claimed))
    if row is not None:
        if row.kind is None:
            return
        if len(value) < 6 and row.family is None:
            return
        yield _build(obs, value, row.kind, "cookie:catalog", row.label, row.family, keep_kind=True)
        return
    if catalogued_only:
        return
    if SUSPICIOUS_COOKIE_NAME.search(name) and is_credential_like(value):
        yield _build(obs, value, Kind.SESSION_COOKIE, "cookie:heuristic", "session-like cookie")


def _header(obs: Observation, name: str) -> Iterator[Candidate]:
    value = obs.value.reveal().strip()
    if is_placeholder(value) or len(value) > MAX_HEADER_CREDENTIAL:
        return
    rule = names.API_KEY_HEADERS.get(name)
    if rule is not None:
        if len(value) >= rule.min_length:
            yield _build(obs, value, rule.kind, f"header:{name}", rule.label, rule.family, keep_kind=True)
        return
    if (
        names.SUSPICIOUS_HEADER.search(name)
        and not names.NON_CREDENTIAL_HEADER.search(name)
        and is_credential_like(value)
    ):
        yield _build(obs, value, Kind.OTHER_SECRET, "header:heuristic", f"credential-like header {name}")


def _param(obs: Observation, name: str) -> Iterator[Candidate]:
    rule = names.PARAMS.get(name) or names.PARAMS.get(name.replace("_", ""))
    if rule is None:
        return
    field = obs.location.field
    in_url_or_form = field in (Field.QUERY, Field.URL_FRAGMENT, Field.FORM) or obs.context in _URLISH_CONTEXTS
    if name in names.URL_ONLY_PARAMS and not in_url_or_form:
        return
    value = obs.value.reveal()
    if is_placeholder(value) or len(value) < rule.min_length:
        return
    if value.lower() == obs.location.name.lower():  # `password: "password"` in code or docs
        return
    weak = rule.needs_random_value or obs.context == "param-loose"
    if weak and (looks_like_code(value) or not (is_credential_like(value) or decode(value) is not None)):
        return
    if rule.kind is Kind.AUTHORIZATION_CODE and not is_credential_like(value, min_length=8):
        return
    yield _build(obs, value, rule.kind, f"param:{name}", rule.label, rule.family, keep_kind=not rule.needs_random_value)


def _anywhere(obs: Observation, index: TextIndex, *, strict: bool) -> Iterator[Candidate]:
    """JWTs and vendor-shaped tokens inside any value. In free text (strict) a JWT must name a principal."""
    text = index.text
    for token in find_jwts(index):
        decoded = decode(token)
        if decoded is None:
            continue
        if (strict or token != text) and not decoded.names_a_principal():
            continue
        yield _build(obs, token, Kind.JWT, "jwt", "JWT")
    for shape, value in find_shapes(index):
        yield _build(obs, value, shape.kind, f"shape:{shape.name}", shape.label, shape.family, keep_kind=True)


def _build(
    obs: Observation,
    value: str,
    kind: Kind,
    detector: str,
    label: str,
    family: Family | None = None,
    *,
    keep_kind: bool = False,
) -> Candidate:
    """Attach what a JWT says about itself, and the family its issuer, host or path points to."""
    claims: dict[str, str] = {}
    expires_at = obs.expires_at
    decoded = decode(value) if value.startswith("eyJ") else None
    if decoded is not None:
        claims = decoded.recorded()
        expires_at = decoded.expires_at() or expires_at
        if not keep_kind or kind in _GENERIC_KINDS:
            kind = decoded.kind()
            label = {
                Kind.ACCESS_TOKEN: "JWT access token",
                Kind.ID_TOKEN: "OIDC ID token",
                Kind.REFRESH_TOKEN: "JWT refresh token",
            }.get(kind, label)
        family = family or catalog.family_for_issuer(decoded.issuer())
    if family is None and kind is not Kind.PASSWORD:
        family = catalog.family_for_host(obs.location.host) or catalog.family_for_path(obs.path)
    return Candidate(
        value=Secret(value),
        kind=kind,
        detector=detector,
        label=label,
        family=family,
        revocable=catalog.is_revocable(family, kind),
        claims=claims,
        expires_at=expires_at,
        location=obs.location,
    )
