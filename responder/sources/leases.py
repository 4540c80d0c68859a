"""Who holds a lease: this process's name in leases, and whether a holder on this host is still alive."""

from __future__ import annotations

import os
import socket
import uuid


def owner_name() -> str:
    """Names this process in leases: host, pid and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"


def owner_alive(owner: str) -> bool:
    """False only for an owner on this host whose process is gone; anything else may be alive elsewhere."""
    host, _, rest = owner.partition("/")
    pid_text = rest.split("/", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True
