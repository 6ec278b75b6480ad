"""Usage summaries, aggregated in SQL (for the CLI now, Settings → Developers later)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.models.api_key import ApiKey
from billabled.models.usage import UsageRecord

TOP_ENDPOINTS = 20


async def usage_summary(
    session: AsyncSession, workspace_id: str, since: datetime
) -> dict[str, Any]:
    in_window = (UsageRecord.workspace_id == workspace_id, UsageRecord.created_at >= since)
    # Integer division: `/` is true division in SQLAlchemy 2, which grouped every status apart.
    status_class = (UsageRecord.status // 100).label("status_class")
    by_status = (
        await session.execute(
            select(status_class, func.count()).where(*in_window).group_by(status_class)
        )
    ).all()
    by_key = (
        await session.execute(
            select(
                ApiKey.id,
                ApiKey.prefix,
                ApiKey.name,
                ApiKey.last_used_at,
                func.count(UsageRecord.id),
            )
            .join(UsageRecord, UsageRecord.api_key_id == ApiKey.id)
            .where(*in_window)
            .group_by(ApiKey.id, ApiKey.prefix, ApiKey.name, ApiKey.last_used_at)
            .order_by(func.count(UsageRecord.id).desc())
        )
    ).all()
    requests = func.count().label("requests")
    by_endpoint = (
        await session.execute(
            select(
                UsageRecord.method,
                UsageRecord.endpoint,
                requests,
                func.sum(case((UsageRecord.status >= 400, 1), else_=0)),
                func.avg(UsageRecord.latency_us),
            )
            .where(*in_window)
            .group_by(UsageRecord.method, UsageRecord.endpoint)
            .order_by(requests.desc())
            .limit(TOP_ENDPOINTS)
        )
    ).all()
    return {
        "workspaceId": workspace_id,
        "since": since,
        "totalRequests": sum(int(count) for _, count in by_status),
        "byStatus": {f"{int(cls)}xx": int(count) for cls, count in sorted(by_status)},
        "byKey": [
            {"keyId": r[0], "prefix": r[1], "name": r[2], "lastUsedAt": r[3], "requests": int(r[4])}
            for r in by_key
        ],
        "byEndpoint": [
            {
                "method": r[0],
                "endpoint": r[1],
                "requests": int(r[2]),
                "errors": int(r[3] or 0),
                "avgLatencyMs": round(float(r[4] or 0) / 1000, 2),
            }
            for r in by_endpoint
        ],
    }
