"""The panic page: server-rendered (Jinja2), one button per scope, a typed confirmation, live progress."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["panic page"], include_in_schema=False)
