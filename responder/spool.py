"""Private spool directories for raw captures: one per process, named after it, so a process killed mid-scan
leaves its captures where the next process to start on this host finds and removes them."""

from __future__ import annotations

import shutil
from pathlib import Path

from responder.leases import owner_alive


def process_spool(base: Path, owner: str) -> Path:
    """`base/<owner>` (slashes made `~`); not created here: its user creates it, mode 0700, when needed."""
    return base / owner.replace("/", "~")


def remove_dead_spools(base: Path) -> None:
    """Remove the spools of processes that ran on this host and are gone (they may hold live credentials)."""
    if not base.is_dir():
        return
    for spool in base.iterdir():
        if spool.is_dir() and not owner_alive(spool.name.replace("~", "/")):
            shutil.rmtree(spool, ignore_errors=True)
