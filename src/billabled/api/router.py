"""The Integration API v1: every resource router under `/api/v1`."""

from __future__ import annotations

from fastapi import APIRouter

from billabled.api.platform import API_PREFIX
from billabled.me.endpoints import router as me_router
from billabled.user.endpoints import router as user_router

api_router = APIRouter(prefix=API_PREFIX)
api_router.include_router(me_router)
api_router.include_router(user_router)
