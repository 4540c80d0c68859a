"""Identity-provider plugins, one module per IdP (authentik, oidc, okta, keycloak, auth0, entra, google).

Each registers through the `responder.providers` entry-point group in pyproject.toml, exactly as a
third-party plugin would. Plugins import only the plugin-facing modules of responder: model, interfaces,
errors, secret (and later http, testing).
"""
