"""Ticketing webhooks (`POST /v1/webhooks/{source}`): signature first, then the delivery recorded durably."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["webhooks"])
