"""The two apps the scenarios serve, as uvicorn factories.

Each lifts the benchmark key's plan limit (business: 1,000 requests a minute) in the process that
builds the app, so the limit is lifted in every `--workers` child too: a change made in the
parent before `uvicorn.run` does not reach children, which import the app afresh.
"""

from __future__ import annotations

from fastapi import FastAPI

import billabled.ratelimit as ratelimit
from bench.ceiling import Ceiling
from bench.ceiling import create_app as create_ceiling
from billabled.app import create_app


def _lift_the_limit() -> None:
    ratelimit.PLAN_LIMITS_PER_MINUTE["business"] = 10**9


def ours() -> FastAPI:
    _lift_the_limit()
    return create_app()


def ceiling() -> Ceiling:
    _lift_the_limit()
    return create_ceiling()
