"""The console's Requests and Analytics pages and their API (docs/agent-console-api.md): the service-desk log,
filtered, searched and exported as CSV, for every agent; the managers' figures and their SVG charts, for admins
(the console's middleware refuses the /console/api/analytics routes to the others). Every figure comes from
handoff.analytics, which `supportbot requests export` and `supportbot analytics` use too."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone, tzinfo
from typing import Any, Callable, Dict, List, Tuple

from aiohttp import web

from handoff.analytics import (BUCKETS, DEFAULT_DAYS, OUTCOMES, Period, RequestFilter, RequestLog, ServiceRequest,
                               export_csv, filter_options, report)
from handoff.console.charts import Series, bar_chart
from handoff.console.pages import page
from handoff.store import HandoffStore

CHART_HEADERS = {"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_FILTER_CHARS = 200
OUTCOME_COLOURS = {"contained": "#2e7d32", "didnt_help": "#ef6c00", "no_answer": "#9aa3af", "handed_off": "#1f5fbf"}
OUTCOME_NAMES = {"contained": "contained", "didnt_help": "didn't help", "no_answer": "no answer",
                 "handed_off": "handed off"}


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _text(request: web.Request, name: str) -> str:
    value = request.query.get(name, "").strip()
    if len(value) > MAX_FILTER_CHARS:
        raise _bad_request(f"'{name}' is longer than {MAX_FILTER_CHARS} characters")
    return value


def _whole_number(request: web.Request, name: str, default: int, lowest: int) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 9 or int(value) < lowest:
        raise _bad_request(f"'{name}' must be a whole number of at least {lowest}")
    return int(value)


def outcomes_chart(series: List[Dict[str, Any]], by: str) -> str:
    labels = [row["period"][5:] for row in series]
    return bar_chart(f"Requests per {by} by outcome", labels,
                     [Series(OUTCOME_NAMES[key], [row[key] for row in series], OUTCOME_COLOURS[key]) for key in OUTCOMES],
                     stacked=True, whole_numbers=True)


def waits_chart(series: List[Dict[str, Any]], by: str) -> str:
    def minutes(key: str) -> List[Any]:
        return [None if row[key] is None else round(row[key] / 60, 1) for row in series]

    return bar_chart(f"Queue wait and first agent reply per {by}, minutes", [row["period"][5:] for row in series], [
        Series("queue wait p50", minutes("queue_wait_p50_seconds"), "#1f5fbf"),
        Series("queue wait p90", minutes("queue_wait_p90_seconds"), "#9dbbe8"),
        Series("first reply p50", minutes("first_agent_reply_p50_seconds"), "#b45309"),
        Series("first reply p90", minutes("first_agent_reply_p90_seconds"), "#f0c48a"),
    ], stacked=False, unit=" min")


CHARTS: Dict[str, Callable[[List[Dict[str, Any]], str], str]] = {"outcomes": outcomes_chart, "waits": waits_chart}


def add_report_routes(app: web.Application, store: HandoffStore, zone: tzinfo,
                      clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
    """`zone`: the business time zone, whose days and weeks the figures count in."""
    log = RequestLog(store.engine)

    def chosen(request: web.Request, default_days: Any = None) -> Tuple[Period, datetime]:
        now = clock()
        try:
            return Period.parse(_text(request, "since"), _text(request, "until"), zone, now, default_days), now
        except ValueError as problem:
            raise _bad_request(str(problem))

    def narrowed(request: web.Request) -> Tuple[Period, List[ServiceRequest], List[ServiceRequest], RequestFilter]:
        period, now = chosen(request)
        wanted = RequestFilter(channel=_text(request, "channel"), language=_text(request, "language"),
                               reason=_text(request, "reason"), agent=_text(request, "agent"),
                               state=_text(request, "state"), text=_text(request, "q"))
        found = log.requests(period, now)
        return period, found, list(reversed(wanted.apply(found))), wanted

    def by_of(request: web.Request) -> str:
        by = request.query.get("by") or "day"
        if by not in BUCKETS:
            raise _bad_request(f"'by' is one of {', '.join(BUCKETS)}")
        return by

    def figures(request: web.Request) -> Dict[str, Any]:
        period, now = chosen(request, DEFAULT_DAYS)
        return report(log.requests(period, now), period, now, by_of(request))

    routes = web.RouteTableDef()

    @routes.get("/console/requests")
    async def requests_page(request: web.Request) -> web.StreamResponse:
        return page("requests.html")

    @routes.get("/console/analytics")
    async def analytics_page(request: web.Request) -> web.StreamResponse:
        return page("analytics.html")

    @routes.get("/console/api/requests")
    async def requests_list(request: web.Request) -> web.StreamResponse:
        offset = _whole_number(request, "offset", 0, 0)
        limit = min(_whole_number(request, "limit", PAGE_SIZE, 1), MAX_PAGE_SIZE)
        period, found, shown, wanted = await asyncio.to_thread(narrowed, request)
        return web.json_response({
            **period.describe(), "total": len(shown), "in_period": len(found), "offset": offset, "limit": limit,
            "requests": [{**r.row(), "conversation_id": r.conversation_id, "snippet": r.snippet(wanted.text)}
                         for r in shown[offset:offset + limit]],
            "options": filter_options(found),
        })

    @routes.get("/console/api/requests.csv")
    async def requests_export(request: web.Request) -> web.StreamResponse:
        period, _, shown, _ = await asyncio.to_thread(narrowed, request)
        name = f"requests-{period.first or 'start'}-{period.last}.csv"
        return web.Response(text=export_csv(shown), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @routes.get("/console/api/analytics")
    async def analytics(request: web.Request) -> web.StreamResponse:
        return web.json_response(await asyncio.to_thread(figures, request))

    @routes.get("/console/api/analytics/charts/{name}.svg")
    async def chart(request: web.Request) -> web.StreamResponse:
        draw = CHARTS.get(request.match_info["name"])
        if draw is None:
            raise web.HTTPNotFound(text=json.dumps({"error": "no such chart"}), content_type="application/json")
        result = await asyncio.to_thread(figures, request)
        language = _text(request, "language")
        block = result["languages"].get(language) if language else result["all"]
        if block is None:
            raise web.HTTPNotFound(text=json.dumps({"error": "no request in that language"}), content_type="application/json")
        return web.Response(text=draw(block["series"], result["by"]), content_type="image/svg+xml", headers=CHART_HEADERS)

    app.add_routes(routes)
