"""Who holds a lease: this process's name in leases, and whether a holder on this host is surely gone.

A name carries the host, the pid and the pid namespace: two containers can share a host name (host
networking) while each has its own pids, so a pid is only looked up when the namespace is ours too. Anything
that cannot be proven gone counts as alive, and its leases simply lapse."""

from __future__ import annotations

import functools
import os
import re
import socket
import uuid


@functools.cache
def process_tag() -> str:
    """pid.namespace, e.g. "4242.4026531836" (the namespace is the inode of /proc/self/ns/pid)."""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = "0"  # no /proc: never judged by pid
    return f"{os.getpid()}.{namespace}"


def host() -> str:
    return socket.gethostname()[:60]


def owner_name() -> str:
    """Names this process in sweep and item leases: host/pid.namespace/random."""
    return f"{host()}/{process_tag()}/{uuid.uuid4().hex[:6]}"


_OWNER = re.compile(r"^(?P<host>[^/:]+)[/:](?P<pid>\d+)\.(?P<namespace>\d+)(?:[/:]|$)")


def owner_alive(owner: str) -> bool:
    """False only for an owner on this host, in this pid namespace, whose process is gone. Reads both forms
    in use: "host/pid.ns/…" (sweeps, ticket work) and "host:pid.ns:…" (the engine)."""
    found = _OWNER.match(owner)
    own_pid, own_namespace = process_tag().split(".")
    if found is None or found.group("host") != host() or found.group("namespace") in ("0", ""):
        return True
    if found.group("namespace") != own_namespace or found.group("pid") == own_pid:
        return True
    try:
        os.kill(int(found.group("pid")), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's live process, or not a pid at all
    return True
