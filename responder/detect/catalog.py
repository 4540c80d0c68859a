"""What we know about cookie and token formats, as data: one row per format.

Sources: shared/research/providers.md (per-IdP cookies, token shapes, issuers) and detectors.md §3.
A row with kind=None is a known NON-credential (CSRF, analytics, device ids): it is never reported.
Rows with `hosts` apply only on those hosts, so a generic name such as `sid` is Okta's only on Okta.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from responder.model import Family, Kind

_OKTA_HOSTS = r"(?:^|\.)okta(?:preview|-emea|-gov)?\.com$|(?:^|\.)okta\.mil$"
_GOOGLE_HOSTS = r"(?:^|\.)(?:google\.[a-z.]{2,6}|googleapis\.com|youtube\.com|gstatic\.com)$"
_ENTRA_HOSTS = (
    r"(?:^|\.)(?:login\.microsoftonline\.(?:com|us)|login\.microsoft\.com|login\.windows\.net|login\.live\.com"
    r"|login\.chinacloudapi\.cn|login\.partner\.microsoftonline\.cn|b2clogin\.com|ciamlogin\.com"
    r"|graph\.microsoft\.com)$"
)
_AUTH0_HOSTS = r"(?:^|\.)auth0\.com$"

FAMILY_HOSTS: tuple[tuple[Family, re.Pattern[str]], ...] = (
    (Family.OKTA, re.compile(_OKTA_HOSTS)),
    (Family.GOOGLE, re.compile(_GOOGLE_HOSTS)),
    (Family.ENTRA, re.compile(_ENTRA_HOSTS)),
    (Family.AUTH0, re.compile(_AUTH0_HOSTS)),
)

# Paths that identify self-hosted IdPs (no fixed hostname).
FAMILY_PATHS: tuple[tuple[Family, re.Pattern[str]], ...] = (
    (Family.AUTHENTIK, re.compile(r"^/(?:application/o/|api/v3/|if/(?:flow|user|admin)/|outpost\.goauthentik\.io/)")),
    (Family.KEYCLOAK, re.compile(r"^(?:/auth)?/(?:realms|admin/realms)/[^/]+/")),
)

# JWT `iss` → family. The issuer only selects among families and configured instances; it is never called.
FAMILY_ISSUERS: tuple[tuple[Family, re.Pattern[str]], ...] = (
    (Family.AUTHENTIK, re.compile(r"^authentik$|/application/o/")),
    (Family.KEYCLOAK, re.compile(r"/realms/[^/]+/?$")),
    (Family.OKTA, re.compile(r"^https://[^/]+\.okta(?:preview|-emea|-gov)?\.com(?:/|$)")),
    (Family.AUTH0, re.compile(r"^https://[^/]+\.auth0\.com/?$")),
    (Family.ENTRA, re.compile(r"^https://(?:sts\.windows\.net/|login\.microsoftonline\.(?:com|us)/)")),
    (Family.GOOGLE, re.compile(r"^(?:https://)?accounts\.google\.com/?$")),
)


@dataclass(frozen=True, slots=True)
class CookieFormat:
    names: re.Pattern[str]
    kind: Kind | None
    label: str
    family: Family | None = None
    hosts: re.Pattern[str] | None = None
    value: re.Pattern[str] | None = None


def _row(
    names: str,
    kind: Kind | None,
    label: str,
    family: Family | None = None,
    *,
    hosts: str | None = None,
    value: str | None = None,
    ignore_case: bool = False,
) -> CookieFormat:
    flags = re.IGNORECASE if ignore_case else 0
    return CookieFormat(
        names=re.compile(names, flags),
        kind=kind,
        label=label,
        family=family,
        hosts=re.compile(hosts) if hosts else None,
        value=re.compile(value) if value else None,
    )


S = Kind.SESSION_COOKIE
COOKIES: tuple[CookieFormat, ...] = (
    # authentik (self-hosted: recognised by name)
    _row(r"authentik_session", S, "authentik session", Family.AUTHENTIK),
    _row(r"authentik_proxy_[0-9a-f]{8}", S, "authentik proxy-outpost session", Family.AUTHENTIK),
    _row(r"authentik_(?:user_switching|account_sessions)", S, "authentik account-switching sessions", Family.AUTHENTIK),
    _row(r"authentik_(?:csrf|language|device|mfa)", None, "authentik non-session cookie"),
    # Okta: Classic `sid`, Identity Engine `idx`; only on Okta hosts (custom domains come from config)
    _row(r"sid", S, "Okta Classic session", Family.OKTA, hosts=_OKTA_HOSTS),
    _row(r"idx", S, "Okta Identity Engine session", Family.OKTA, hosts=_OKTA_HOSTS),
    _row(r"JSESSIONID", S, "Okta web session", Family.OKTA, hosts=_OKTA_HOSTS),
    _row(
        r"DT|t|okta-oauth-(?:nonce|state|redirect-params)|ln|oktaStateToken",
        None,
        "Okta non-session cookie",
        Family.OKTA,  # kind None: the family only lets the row apply on an Okta custom domain
        hosts=_OKTA_HOSTS,
    ),
    _row(r"okta-oauth-(?:nonce|state|redirect-params)", None, "Okta SDK state cookie"),
    # Keycloak
    _row(r"KEYCLOAK_IDENTITY(?:_LEGACY)?", S, "Keycloak SSO identity", Family.KEYCLOAK),
    _row(r"KEYCLOAK_SESSION(?:_LEGACY)?", S, "Keycloak session", Family.KEYCLOAK),
    _row(r"AUTH_SESSION_ID(?:_LEGACY)?", S, "Keycloak login-in-progress session", Family.KEYCLOAK),
    _row(
        r"KC_RESTART|KC_STATE_CHECKER|KC_AUTH_SESSION_HASH|KEYCLOAK_LOCALE|KEYCLOAK_REMEMBER_ME",
        None,
        "Keycloak non-session cookie",
    ),
    # Auth0 tenant session (the app-side SDK cookies are generic sessions below)
    _row(r"auth0(?:_compat)?", S, "Auth0 session", Family.AUTH0),
    _row(
        r"did(?:_compat)?|auth0-mf(?:_compat)?|a0_users:sess(?:\.sig)?",
        None,
        "Auth0 device/CSRF cookie",
        Family.AUTH0,
        hosts=_AUTH0_HOSTS,
    ),
    # Microsoft Entra ID (ESTSAUTH* are opaque: the user comes from another token in the artifact)
    _row(r"ESTSAUTH|ESTSAUTHPERSISTENT", S, "Entra ID SSO session", Family.ENTRA),
    _row(
        r"ESTSAUTHLIGHT|SignInStateCookie|CCState|buid|fpc|esctx|x-ms-gateway-slice|stsservicecookie|brcap"
        r"|wlidperf|MSFPC|MSCC",
        None,
        "Entra ID non-session cookie",
    ),
    # Google account session family (only on Google hosts)
    _row(
        r"__Secure-[13]P(?:SID|SIDTS|SIDCC|SIDRTS|APISID)|SID|HSID|SSID|APISID|SAPISID|SIDCC|SIDTS|LSID"
        r"|__Host-(?:1PLSID|3PLSID|GAPS)|(?:__Secure-)?OSID",
        S,
        "Google account session",
        Family.GOOGLE,
        hosts=_GOOGLE_HOSTS,
    ),
    _row(
        r"NID|AEC|1P_JAR|CONSENT|SOCS|OTZ|__Secure-ENID|DV|UULE",
        None,
        "Google non-session cookie",
        Family.GOOGLE,
        hosts=_GOOGLE_HOSTS,
    ),
    # Well-known third-party browser sessions (not IdPs we act on: reported, sanitized, not revocable)
    _row(r"d", S, "Slack browser session", value=r"^xoxd-"),
    _row(r"user_session|__Host-user_session_same_site|_gh_sess", S, "GitHub session"),
    _row(r"_gitlab_session", S, "GitLab session"),
    _row(r"xs", S, "Facebook session", value=r"^\d{1,3}(?:%3A|:)"),
    _row(r"CF_Authorization", S, "Cloudflare Access session"),
    _row(r"commonAuthId|opbs", S, "WSO2 Identity Server session"),
    # Generic application sessions nobody catalogued (any host; a configured instance may claim them)
    _row(
        r"JSESSIONID|PHPSESSID|ASP\.NET_SessionId|ASPSESSIONID[A-Z]{8}|connect\.sid|_session(?:\.legacy)?"
        r"|session|sessionid|session_id|sessid|SESSION|SESSION_ID|SessionID|SessionId|sid|laravel_session"
        r"|ci_session|\.ASPXAUTH|\.AspNetCore\.(?:Session|Cookies|Identity\.Application)|appSession"
        r"|__session|express:sess|koa\.sess|_[A-Za-z0-9]+_session|remember_(?:web|user)_[0-9a-f]+|wordpress_logged_in_[0-9a-f]+",
        S,
        "application session",
    ),
    # Known non-credentials: analytics, consent, bot management, CSRF, and signature companions (`x.sig`)
    _row(
        r"_ga(?:_.*)?|_gid|_gat.*|_gcl_.*|__utm.|_fbp|_fbc|_hj.*|_uetsid|_uetvid|ajs_.*|mp_.*|amplitude.*"
        r"|__cf_bm|cf_clearance|_cfuvid|__cflb|datr|wordpress_test_cookie|previewCols|visitorId|VisitorID"
        r"|OptanonConsent|OptanonAlertBoxClosed|euconsent.*|.*\.sig|.*csrf.*|.*xsrf.*|_interaction(?:_resume)?",
        None,
        "not a credential",
        ignore_case=True,
    ),
)

# Names that suggest a credential when the value also looks random (heuristic for uncatalogued apps).
SUSPICIOUS_COOKIE_NAME = re.compile(r"(?i)sess|sid|auth|token|jwt|remember|secret|credential")


def cookie_format(name: str, host: str, value: str, host_family: Family | None = None) -> CookieFormat | None:
    """The first row for this cookie. A host-bound row applies on its vendor's domains, and on a host the
    configuration gives to that vendor's family (`host_family`: an Okta org on a custom domain)."""
    bare_host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    for row in _rows_named(name):
        if (
            row.hosts is not None
            and not row.hosts.search(bare_host)
            and (row.family is None or row.family is not host_family)
        ):
            continue
        if row.value is not None and not row.value.search(value):
            continue
        return row
    return None


@lru_cache(maxsize=4096)  # a capture repeats the same few dozen cookie names
def _rows_named(name: str) -> tuple[CookieFormat, ...]:
    """The rows whose name pattern matches, in catalogue order."""
    return tuple(row for row in COOKIES if row.names.fullmatch(name))


def family_for_host(host: str) -> Family | None:
    bare_host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    for family, pattern in FAMILY_HOSTS:
        if pattern.search(bare_host):
            return family
    return None


def family_for_path(path: str) -> Family | None:
    for family, pattern in FAMILY_PATHS:
        if pattern.search(path):
            return family
    return None


def family_for_issuer(issuer: str) -> Family | None:
    for family, pattern in FAMILY_ISSUERS:
        if pattern.search(issuer):
            return family
    return None


# Which kinds a family's admin API can end (providers.md §0). Generic OIDC: RFC 7009 for tokens it issued.
REVOCABLE: dict[Family, frozenset[Kind]] = {
    Family.AUTHENTIK: frozenset({S, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.ID_TOKEN, Kind.API_KEY, Kind.JWT}),
    Family.OKTA: frozenset({S, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.ID_TOKEN, Kind.API_KEY, Kind.JWT}),
    Family.KEYCLOAK: frozenset({S, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.ID_TOKEN, Kind.JWT}),
    Family.AUTH0: frozenset({S, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.ID_TOKEN, Kind.JWT}),
    Family.ENTRA: frozenset({S, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.ID_TOKEN, Kind.JWT}),
    Family.GOOGLE: frozenset({S, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.ID_TOKEN, Kind.JWT}),
    Family.OIDC: frozenset({S, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.ID_TOKEN, Kind.JWT}),
}


def is_revocable(family: Family | None, kind: Kind) -> bool:
    return family is not None and kind in REVOCABLE.get(family, frozenset())
