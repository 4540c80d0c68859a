# syntax=docker/dockerfile:1
# responder: the service image. docs/deployment.md says how to build and run it, alone or with compose.
#
# Both stages use the same base: the venv built in the first is copied whole into the second, and its
# scripts name that base's interpreter (/usr/local/bin/python3.11) by absolute path.

FROM python:3.11.17-slim-trixie AS builder

WORKDIR /src
# Only what the wheel is built from (.dockerignore allows nothing else into the context).
COPY pyproject.toml hatch_build.py README.md ./
COPY responder ./responder
COPY providers ./providers

# The README's "Install for production" commands, verbatim: tests/deploy runs the same lines, so CI proves
# what this image does. Every dependency installs as a wheel, so the slim base needs no compiler. Without one,
# responder's optional C helper (the JSON depth guard, hatch_build.py) is not compiled and its pure-Python
# fallback runs: the same results, scans about a tenth slower.
RUN --mount=type=cache,target=/root/.cache/pip \
    python3.11 -m pip wheel --no-deps --wheel-dir dist . \
    && python3.11 -m venv /opt/responder \
    && /opt/responder/bin/pip install --only-binary=:all: dist/responder-*.whl \
    && /opt/responder/bin/responder --version


FROM python:3.11.17-slim-trixie

# A fixed uid/gid so volume and secret-file ownership can be set on the host (chown 10001).
RUN groupadd --system --gid 10001 responder \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/responder \
        --shell /usr/sbin/nologin responder \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/responder \
    && install -d -m 0755 /etc/responder

# The application is owned by root: the service cannot rewrite its own code.
COPY --from=builder /opt/responder /opt/responder

# No secret is set here: keys and the ledger URL come from the environment or mounted files at run time.
ENV PATH="/opt/responder/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RESPONDER_DATA_DIR=/var/lib/responder \
    RESPONDER_CONFIG=/etc/responder/responder.toml

USER 10001:10001
WORKDIR /var/lib/responder
# Generated keys (fingerprint.key, seal.key, page-session.key), the SQLite ledger when no ledger URL is
# given, the upload spool and sanitized copies waiting to be downloaded.
VOLUME ["/var/lib/responder"]
EXPOSE 8080

# Liveness with the standard library only (no curl in a slim image). Proxies are bypassed: an
# HTTP_PROXY set for the IdP calls must not swallow the probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3.11", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["responder"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
