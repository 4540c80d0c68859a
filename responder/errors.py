"""Error tree. Each error says what the caller does with it; messages never contain secret values."""

from __future__ import annotations


class ResponderError(Exception):
    """Base class. `str(error)` is operator-readable text."""

    exit_code = 2


class ConfigError(ResponderError):
    """Bad settings or usage: the operator must fix something before anything runs (exit 2)."""

    exit_code = 2


class PluginError(ResponderError):
    """A plugin failed to load or register."""

    exit_code = 2


class UnreadableArtifact(ResponderError):
    """An artifact could not be read at all (empty, binary junk, refused archive). Noted; others go on."""

    exit_code = 3


class DirectoryError(ResponderError):
    """A directory look-up for panic failed or is not offered (unknown group, no groups at this IdP, refused).
    Nothing was recorded or done (exit 2)."""

    exit_code = 2
