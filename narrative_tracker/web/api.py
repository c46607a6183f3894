"""The JSON API under /api/v1/, described by /api/v1/openapi.json. Same guard as the pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from narrative_tracker.storage.models import DailyTrend
from narrative_tracker.vocabulary import STANCES
from narrative_tracker.web import data
from narrative_tracker.web.accounts import Account
from narrative_tracker.web.auth import guard
from narrative_tracker.web.openapi import SPEC
from narrative_tracker.web.taxonomy import taxonomy as cached_taxonomy
from narrative_tracker.web.views import filters_from, store_record

MAX_DAYS = 730


def _bad(message: str) -> HTTPException:
    return HTTPException(400, message)


@guard("read")
async def alerts(request: Request, account: Account) -> Response:
    try:
        day = data.parse_day(request.query_params.get("date"), "date")
    except ValueError as exc:
        raise _bad(str(exc)) from None
    database = request.app.state.database
    if day is None:
        day = await run_in_threadpool(data.latest_alert_day, database) or datetime.now(UTC).date()
    records = await run_in_threadpool(data.stored_alerts, database, day)
    return JSONResponse({"date": day.isoformat(), "alerts": [r.as_dict() for r in records]})


@guard("read")
async def trends(request: Request, account: Account) -> Response:
    params = request.query_params
    try:
        days = int(params.get("days", "28"))
    except ValueError:
        raise _bad("days: give a whole number of days") from None
    if not 1 <= days <= MAX_DAYS:
        raise _bad(f"days: between 1 and {MAX_DAYS}")

    def read() -> dict[str, Any]:
        database = request.app.state.database
        end = data.latest_alert_day(database) or datetime.now(UTC).date()
        with database.session() as session:
            end = session.scalar(select(func.max(DailyTrend.day))) or end
            start = end - timedelta(days=days - 1)
            query = select(DailyTrend).where(DailyTrend.day >= start, DailyTrend.day <= end)
            for name, column in (("narrative", DailyTrend.narrative_id), ("group", DailyTrend.group),
                                 ("lang", DailyTrend.lang)):
                if params.get(name):
                    query = query.where(column == params[name])
            rows = session.scalars(query.order_by(DailyTrend.day, DailyTrend.narrative_id, DailyTrend.group,
                                                  DailyTrend.lang).limit(100_000)).all()
            return {
                "since": start.isoformat(),
                "until": end.isoformat(),
                "rows": [
                    {"date": r.day.isoformat(), "narrative": r.narrative_id, "group": r.group, "lang": r.lang,
                     "flagged": r.flagged, "total": r.total, "promotes": r.promotes, "refutes": r.refutes,
                     "reports": r.reports}
                    for r in rows
                ],
            }

    return JSONResponse(await run_in_threadpool(read))


@guard("read")
async def narratives(request: Request, account: Account) -> Response:
    taxonomy = cached_taxonomy(request.app.state.settings.taxonomy_file)
    return JSONResponse({"narratives": [
        {"id": n.id, "name": n.name, "description": n.description, "coarse": "/" not in n.id}
        for n in taxonomy.narratives.values()
    ]})


@guard("read")
async def articles(request: Request, account: Account) -> Response:
    filters = filters_from(request)
    try:
        cursor = data.decode_cursor(request.query_params.get("cursor"))
        limit = int(request.query_params.get("limit", str(data.PAGE)))
    except ValueError as exc:
        raise _bad(str(exc)) from None
    found, after = await run_in_threadpool(data.search_articles, request.app.state.database, filters,
                                           cursor=cursor, limit=limit)
    for record in found:
        record.pop("outlet", None)
    return JSONResponse({"articles": found, "next_cursor": data.encode_cursor(after) if after else None})


@guard("read")
async def article(request: Request, account: Account) -> Response:
    record = await run_in_threadpool(data.article_record, request.app.state.database,
                                     int(request.path_params["article_id"]))
    if record is None:
        raise HTTPException(404, "no such article")
    record.pop("outlet", None)
    return JSONResponse(record)


@guard("label")
async def labels(request: Request, account: Account) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise _bad("send a JSON object: {\"article_id\", \"narratives\": [ids], \"stance\": {id: stance}}") from None
    if not isinstance(body, dict) or not isinstance(body.get("article_id"), int):
        raise _bad("article_id: give the article's id (a number)")
    chosen = body.get("narratives", [])
    stance = body.get("stance") or {}
    if not isinstance(chosen, list) or not all(isinstance(n, str) for n in chosen):
        raise _bad("narratives: give a list of narrative ids (empty: the article carries none)")
    if not isinstance(stance, dict) or any(v not in STANCES for v in stance.values()):
        raise _bad(f"stance: map narrative ids to one of {', '.join(STANCES)}")
    positives = {n: str(stance.get(n, "")) for n in chosen}
    await run_in_threadpool(store_record, request, body["article_id"], positives, account)
    return JSONResponse({"article_id": body["article_id"], "narratives": sorted(positives), "complete": True,
                         "labeller": account.name}, status_code=201)


@guard("read")
async def openapi(request: Request, account: Account) -> Response:
    return JSONResponse(SPEC)


ROUTES = [
    Route("/api/v1/openapi.json", openapi),
    Route("/api/v1/alerts", alerts),
    Route("/api/v1/trends", trends),
    Route("/api/v1/narratives", narratives),
    Route("/api/v1/articles", articles),
    Route("/api/v1/articles/{article_id:int}", article),
    Route("/api/v1/labels", labels, methods=["POST"]),
]
