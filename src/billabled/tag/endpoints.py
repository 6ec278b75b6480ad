"""`Tags` endpoints (being built)."""

from __future__ import annotations

from fastapi import APIRouter

from billabled.api.platform import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["Tags"])
