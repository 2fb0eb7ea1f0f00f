"""The agent console: a JSON API, a WebSocket of live events and the static page (docs/agent-console-api.md)."""
from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Deque, Dict, Optional, Set, Tuple
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from handoff.canned import CannedReplies
from handoff.client_address import client_address
from handoff.console.gaps_routes import gaps_routes
from handoff.console.pages import STATIC_DIR, page
from handoff.console.protocol_script import protocol_script
from handoff.console.reports import add_report_routes
from protocol.limits import storable
from protocol.moods import MoodReading
from handoff.live_events import ERROR_BACKOFF_SECONDS, BoundedSender, LiveEventFollower
from handoff.ownership import TransitionRefused
from handoff.router import ConversationRouter
from handoff.agents import SESSION_IDLE_TIMEOUT
from handoff.store import HandoffStore
from handoff.views import AgentView, ConversationView, NotFound

log = logging.getLogger(__name__)

SESSION_COOKIE = "supportbot_agent"
MAX_TEXT_CHARS = 4000
MAX_ID = 2**63 - 1  # the largest id the database holds
LIVE_POLL_SECONDS = 0.3
SESSION_CHECK_SECONDS = 2.0  # how soon a live socket closes after its session ended
SESSION_ENDED_CLOSE_CODE = 4401
UNDELIVERED_SHOWN = 20  # dead letters listed with the queue
MESSAGE_PAGE = 100      # the latest messages a conversation's details show; older ones page by page
MAX_MESSAGE_PAGE = 500

AGENT_KEY = "agent"  # the logged-in agent, on each request
ADMIN_ROUTES = ("/console/api/agents", "/console/api/analytics")  # managing the agents, the analytics: admins only
ROUTER_KEY = web.AppKey("router", ConversationRouter)


def agent_json(agent: AgentView) -> Dict[str, Any]:
    return {"id": agent.id, **agent.to_json(), "active": agent.active}


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _netloc(url: str) -> Optional[str]:
    try:
        return urlsplit(url).netloc
    except ValueError:  # "http://[" names no site
        return None


def cross_site_refusal(request: web.Request) -> Optional[web.Response]:
    """403 for a state-changing request or the live socket sent from another site (a browser says where it comes
    from in `Origin` or `Sec-Fetch-Site`; other clients send neither), and 415 for a body that is not JSON."""
    if request.method in STATE_CHANGING or request.path == "/console/api/live":
        origin = request.headers.get("Origin")
        if origin is not None and origin != "null" and _netloc(origin) != request.host:
            return error(403, "requests from another site are refused")
        if origin == "null" or request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return error(403, "requests from another site are refused")
    if request.method in STATE_CHANGING and request.can_read_body and request.content_type != "application/json":
        return error(415, "the body must be application/json")
    return None


class LoginThrottle:
    """Failed console logins per username and per address in a sliding window; past the limit, 429 until the
    oldest failure leaves the window."""

    def __init__(self, per_user: int = 5, per_address: int = 20, window: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, max_tracked: int = 10_000):
        self.limits = {"user": per_user, "address": per_address}
        self.max_tracked = max_tracked
        self.window = window
        self.clock = clock
        self._failures: Dict[Tuple[str, str], Deque[float]] = defaultdict(deque)

    def _recent(self, key: Tuple[str, str]) -> Deque[float]:
        failures = self._failures[key]
        while failures and self.clock() - failures[0] >= self.window:
            failures.popleft()
        return failures

    def wait_seconds(self, username: str, address: str) -> int:
        waits = []
        for key in (("user", username.lower()), ("address", address)):
            failures = self._recent(key)
            if len(failures) >= self.limits[key[0]]:
                waits.append(self.window - (self.clock() - failures[0]))
        return max(1, math.ceil(max(waits))) if waits else 0

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        self._failures[("user", username.lower())].append(now)
        self._failures[("address", address)].append(now)
        if len(self._failures) > self.max_tracked:  # random usernames must not grow this without end
            for key in list(self._failures):
                if not self._recent(key):
                    del self._failures[key]
            if len(self._failures) > self.max_tracked:  # a flood within the window: forget the stalest half
                by_last = sorted(self._failures, key=lambda k: self._failures[k][-1])
                for key in by_last[:len(by_last) // 2]:
                    del self._failures[key]

    def succeeded(self, username: str) -> None:
        self._failures.pop(("user", username.lower()), None)


async def _json_body(request: web.Request) -> Dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, RecursionError, LookupError, web.RequestPayloadError):  # also nested too deep, an unknown charset
        raise web.HTTPBadRequest(text=json.dumps({"error": "the body must be JSON"}), content_type="application/json")
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "the body must be a JSON object"}), content_type="application/json")
    return body


def _text_field(body: Dict[str, Any], name: str, required: bool = True) -> Optional[str]:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise web.HTTPBadRequest(text=json.dumps({"error": f"'{name}' must be a non-empty string"}), content_type="application/json")
    if len(value) > MAX_TEXT_CHARS:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"'{name}' is longer than {MAX_TEXT_CHARS} characters"}),
                                 content_type="application/json")
    if not storable(value):
        raise web.HTTPBadRequest(text=json.dumps({"error": f"'{name}' must be valid unicode"}), content_type="application/json")
    return value.strip()


def _conversation_id(request: web.Request) -> int:
    try:
        conversation_id = int(request.match_info["conversation_id"])
    except ValueError:
        conversation_id = 0
    if 0 < conversation_id <= MAX_ID:
        return conversation_id
    raise web.HTTPNotFound(text=json.dumps({"error": "no such conversation"}), content_type="application/json")


def _page_query(request: web.Request) -> Tuple[Optional[int], int]:
    """`before` (a message id; none: the latest page) and `limit` (at most MAX_MESSAGE_PAGE) of a messages page."""
    def positive(name: str) -> Optional[int]:
        value = request.query.get(name)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > 19 or not 0 < int(value) <= MAX_ID:
            raise web.HTTPBadRequest(text=json.dumps({"error": f"'{name}' must be a positive whole number"}),
                                     content_type="application/json")
        return int(value)

    return positive("before"), min(positive("limit") or MESSAGE_PAGE, MAX_MESSAGE_PAGE)


class Console:
    """Builds the JSON shapes of the API from the store; shared by the handlers and the live feed."""

    def __init__(self, router: ConversationRouter, canned: CannedReplies, session_idle: timedelta = SESSION_IDLE_TIMEOUT):
        self.session_idle = session_idle
        self.router = router
        self.store: HandoffStore = router.store
        self.canned = canned

    def summary(self, conversation: ConversationView) -> Dict[str, Any]:
        handoff = self.store.current_handoff(conversation.id) if conversation.handoff_id else None
        last = self.store.last_message(conversation.id)
        waiting_since = handoff.requested_at if handoff and conversation.state in ("waiting", "agent") else None
        waited = None
        if waiting_since:
            since = datetime.fromisoformat(waiting_since.replace("Z", "+00:00"))
            waited = int((datetime.now(timezone.utc) - since).total_seconds())
        return {
            "id": conversation.id, "state": conversation.state, "channel": conversation.channel,
            "customer_name": conversation.customer_name, "language": conversation.language,
            "reason": handoff.reason if handoff else None, "sentiment": handoff.sentiment if handoff else None,
            "priority": handoff.priority if handoff else None, "waiting_since": waiting_since, "waited_seconds": waited,
            "agent": conversation.agent.to_json() if conversation.agent else None,
            "last_message": last.text[:200] if last else None,
            "unread": self.store.unanswered_count(conversation.id),
        }

    def queue(self, agent: AgentView) -> Dict[str, Any]:
        return {"waiting": [self.summary(c) for c in self.store.waiting()],
                "mine": [self.summary(c) for c in self.store.owned_by(agent.id)],
                "undelivered": self.store.outbox.undelivered(UNDELIVERED_SHOWN)}

    def details(self, conversation_id: int, agent: AgentView) -> Dict[str, Any]:
        conversation = self.store.get(conversation_id)
        result = self.summary(conversation)
        handoff = self.store.current_handoff(conversation_id)
        if handoff:
            packet = handoff.packet
            language = conversation.language or packet.get("language") or "en"
            considered = [
                {"id": c.get("faq_id") or c.get("id"), "score": c.get("score"),
                 "question": self.canned.question(c.get("faq_id") or c.get("id") or "", language)}
                for c in packet.get("considered") or []
            ]
            result["handoff"] = {
                "reason": handoff.reason, "sentiment": handoff.sentiment, "language": language,
                "signals": list(MoodReading.parse(packet.get("sentiment")).signals),
                "considered": considered,
                "suggested_reply": self.router.suggested_reply(conversation, handoff.reason, agent),
            }
            result["rating"], result["resolution"] = handoff.rating, handoff.resolution
        else:
            result["handoff"], result["rating"], result["resolution"] = None, None, None
        page = self.messages_page(conversation_id)
        result["messages"], result["has_earlier"] = page["messages"], page["has_earlier"]
        return result

    def messages_page(self, conversation_id: int, before: Optional[int] = None, limit: int = MESSAGE_PAGE) -> Dict[str, Any]:
        self.store.get(conversation_id)  # NotFound: 404
        messages, has_earlier = self.store.messages_page(conversation_id, before, limit)
        return {"messages": [m.to_json() for m in messages], "has_earlier": has_earlier}


def console_app(router: ConversationRouter, canned: CannedReplies, secure_cookies: bool = False,
                session_idle: timedelta = SESSION_IDLE_TIMEOUT, trust_forwarded_for: bool = False,
                encoder_spec: str = "") -> web.Application:
    """`session_idle`: a session unused this long ends (the live socket's own checks do not count as use).
    `trust_forwarded_for`: behind a reverse proxy, logins are throttled by the address it names. `encoder_spec`:
    the knowledge index's encoder (ENCODER), which the gaps page groups the questions with."""
    console = Console(router, canned, session_idle)
    store = router.store
    logins = LoginThrottle()
    live_sockets: Set[web.WebSocketResponse] = set()
    # password hashing (argon2) on threads of its own: a flood of logins cannot take the threads that serve customers
    hashing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="console-login")

    async def db(function: Callable, *args):
        return await asyncio.to_thread(function, *args)

    @web.middleware
    async def errors_and_auth(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if request.path.startswith("/console/api/"):
            refused = cross_site_refusal(request)
            if refused is not None:
                return refused
        if request.path.startswith("/console/api/") and request.path != "/console/api/login":
            token = request.cookies.get(SESSION_COOKIE)
            agent = await db(store.agents.for_session, token, session_idle, True) if token else None
            if agent is None:
                return error(401, "log in first")
            if request.path.startswith(ADMIN_ROUTES) and not agent.is_admin:
                return error(403, "only an admin may do this")
            request[AGENT_KEY] = agent
        try:
            return await handler(request)
        except NotFound as problem:
            return error(404, str(problem))
        except TransitionRefused as problem:
            return error(409, str(problem))
        except ValueError as problem:
            return error(400, str(problem))

    routes = web.RouteTableDef()

    @routes.get("/console")
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console/")

    @routes.get("/console/")
    async def console_page(request: web.Request) -> web.StreamResponse:
        return page("index.html", connect_src="'self' ws: wss:")

    names_script = protocol_script()

    @routes.get("/console/protocol.js")  # like the static scripts: no session needed
    async def protocol_names(request: web.Request) -> web.StreamResponse:
        return web.Response(text=names_script, content_type="text/javascript", headers={"X-Content-Type-Options": "nosniff"})

    @routes.post("/console/api/login")
    async def login(request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return error(400, "'username' and 'password' are required")
        if not storable(username) or not storable(password) or len(username) > 200 or len(password) > 1000:
            return error(400, "'username' and 'password' must be valid unicode, of sensible length")
        username = username.strip()
        address = client_address(request, trust_forwarded_for)
        wait = logins.wait_seconds(username, address)
        if wait:
            reply = error(429, "too many failed logins; try again later")
            reply.headers["Retry-After"] = str(wait)
            return reply
        agent = await asyncio.get_running_loop().run_in_executor(hashing, store.agents.authenticate, username, password)
        if agent is None:
            logins.failed(username, address)
            log.warning("failed console login for %r from %s", username[:64], address)
            return error(401, "wrong username or password")
        logins.succeeded(username)
        token = await db(store.agents.start_session, agent.id)
        reply = web.json_response({"agent": agent.to_json()})
        reply.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=secure_cookies, path="/console")
        return reply

    @routes.post("/console/api/logout")
    async def logout(request: web.Request) -> web.StreamResponse:
        await db(store.agents.end_session, request.cookies.get(SESSION_COOKIE))
        reply = web.json_response({})
        reply.del_cookie(SESSION_COOKIE, path="/console")
        return reply

    @routes.get("/console/api/me")
    async def me(request: web.Request) -> web.StreamResponse:
        return web.json_response({"agent": request[AGENT_KEY].to_json()})

    @routes.get("/console/api/queue")
    async def queue(request: web.Request) -> web.StreamResponse:
        return web.json_response(await db(console.queue, request[AGENT_KEY]))

    @routes.get("/console/api/stats")
    async def stats(request: web.Request) -> web.StreamResponse:
        return web.json_response({"answers": await db(store.feedback_by_entry), "handoffs": await db(store.handoff_summary)})

    @routes.get("/console/api/conversations/{conversation_id}")
    async def conversation(request: web.Request) -> web.StreamResponse:
        return web.json_response(await db(console.details, _conversation_id(request), request[AGENT_KEY]))

    @routes.get("/console/api/conversations/{conversation_id}/messages")
    async def earlier_messages(request: web.Request) -> web.StreamResponse:
        before, limit = _page_query(request)
        return web.json_response(await db(console.messages_page, _conversation_id(request), before, limit))

    @routes.post("/console/api/conversations/{conversation_id}/claim")
    async def claim(request: web.Request) -> web.StreamResponse:
        agent = request[AGENT_KEY]
        await router.claim(_conversation_id(request), agent)
        return web.json_response(await db(console.details, _conversation_id(request), agent))

    @routes.post("/console/api/conversations/{conversation_id}/messages")
    async def reply(request: web.Request) -> web.StreamResponse:
        text = _text_field(await _json_body(request), "text")
        message = await router.agent_reply(_conversation_id(request), request[AGENT_KEY], text)
        return web.json_response(message.to_json(), status=201)

    @routes.post("/console/api/conversations/{conversation_id}/notes")
    async def note(request: web.Request) -> web.StreamResponse:
        text = _text_field(await _json_body(request), "text")
        message = await router.add_note(_conversation_id(request), request[AGENT_KEY], text)
        return web.json_response(message.to_json(), status=201)

    @routes.post("/console/api/conversations/{conversation_id}/typing")
    async def typing(request: web.Request) -> web.StreamResponse:
        await router.agent_typing(_conversation_id(request), request[AGENT_KEY])
        return web.Response(status=204)

    @routes.post("/console/api/conversations/{conversation_id}/return")
    async def return_to_bot(request: web.Request) -> web.StreamResponse:
        agent = request[AGENT_KEY]
        await router.return_to_bot(_conversation_id(request), agent)
        return web.json_response(await db(console.details, _conversation_id(request), agent))

    @routes.post("/console/api/conversations/{conversation_id}/close")
    async def close(request: web.Request) -> web.StreamResponse:
        agent = request[AGENT_KEY]
        body = await _json_body(request) if request.can_read_body else {}
        resolution = _text_field(body, "resolution", required=False)
        tell_customer = body.get("tell_customer", False)
        if not isinstance(tell_customer, bool):
            return error(400, "'tell_customer' must be true or false")
        if tell_customer and not resolution:
            return error(400, "write the 'resolution' to tell the customer the outcome")
        await router.close(_conversation_id(request), agent, resolution, tell_customer)
        return web.json_response(await db(console.details, _conversation_id(request), agent))

    @routes.get("/console/api/agents")
    async def list_agents(request: web.Request) -> web.StreamResponse:
        return web.json_response({"agents": [agent_json(a) for a in await db(store.agents.all, True)]})

    @routes.post("/console/api/agents")
    async def add_agent(request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        username = _text_field(body, "username")
        display_name = _text_field(body, "display_name", required=False) or username.capitalize()
        password, role = body.get("password"), body.get("role", "agent")
        if not isinstance(password, str) or not isinstance(role, str):
            return error(400, "'password' and 'role' must be strings")
        existing = [a for a in await db(store.agents.all, True) if a.username == username]
        if existing:
            return error(409, f"there is an agent '{username}' already")
        agent = await asyncio.get_running_loop().run_in_executor(
            hashing, store.agents.create, username, display_name, password, role)
        log.info("%s added the agent %s (%s)", request[AGENT_KEY].username, agent.username, agent.role)
        return web.json_response({"agent": agent_json(agent)}, status=201)

    async def set_active(request: web.Request, active: bool) -> web.StreamResponse:
        try:
            agent_id = int(request.match_info["agent_id"])
        except ValueError:
            agent_id = 0
        if not 0 < agent_id <= MAX_ID:
            return error(404, "no such agent")
        if not active and agent_id == request[AGENT_KEY].id:
            return error(400, "you cannot deactivate yourself")
        agent = await db(store.agents.set_active, agent_id, active)
        log.info("%s %s the agent %s", request[AGENT_KEY].username, "activated" if active else "deactivated", agent.username)
        return web.json_response({"agent": agent_json(agent)})

    @routes.post("/console/api/agents/{agent_id}/deactivate")
    async def deactivate_agent(request: web.Request) -> web.StreamResponse:
        return await set_active(request, False)

    @routes.post("/console/api/agents/{agent_id}/activate")
    async def activate_agent(request: web.Request) -> web.StreamResponse:
        return await set_active(request, True)

    @routes.get("/console/api/undelivered")
    async def undelivered(request: web.Request) -> web.StreamResponse:
        return web.json_response({"undelivered": await db(store.outbox.undelivered)})

    @routes.post("/console/api/undelivered/{message_id}/dismiss")
    async def dismiss_undelivered(request: web.Request) -> web.StreamResponse:
        try:
            message_id = int(request.match_info["message_id"])
        except ValueError:
            message_id = 0
        if not 0 < message_id <= MAX_ID:
            return error(404, "no such message")
        await db(store.outbox.dismiss, message_id)
        log.info("%s dealt with the undelivered message %s", request[AGENT_KEY].username, message_id)
        return web.Response(status=204)

    @routes.get("/console/api/canned")
    async def canned_replies(request: web.Request) -> web.StreamResponse:
        query = request.query.get("q", "")[:200]
        language = request.query.get("language", "en")[:8]
        return web.json_response({"replies": await db(canned.search, query, language)})

    @routes.get("/console/api/live")
    async def live(request: web.Request) -> web.StreamResponse:
        agent: AgentView = request[AGENT_KEY]
        socket = web.WebSocketResponse(heartbeat=30)
        await socket.prepare(request)
        out = BoundedSender(socket, request.transport, name=f"the live socket of {agent.username}")
        feed = LiveFeed(console, agent, out, request.cookies.get(SESSION_COOKIE, ""))
        feeding = asyncio.create_task(feed.run())
        live_sockets.add(socket)
        try:
            async for incoming in socket:
                if incoming.type != WSMsgType.TEXT:
                    continue
                try:
                    event = json.loads(incoming.data)
                    if event.get("type") == "typing":
                        await router.agent_typing(int(event["conversation_id"]), agent)
                except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError, NotFound):
                    out.send({"type": "error", "error": "unreadable event"})
        finally:
            live_sockets.discard(socket)
            feeding.cancel()
            await asyncio.gather(feeding, return_exceptions=True)
            await out.stop()  # a close frame of the feed's, with its reason, goes out first
        return socket

    app = web.Application(middlewares=[errors_and_auth], client_max_size=64 * 1024)
    app[ROUTER_KEY] = router

    async def stop_hashing(_app: web.Application) -> None:
        hashing.shutdown(wait=False)

    async def close_live_sockets(_app: web.Application) -> None:
        """A gateway stopping closes the agents' live sockets (their pages reconnect, to another gateway or to
        this one when it is back), rather than waiting for them until the shutdown timeout."""
        await asyncio.gather(*(s.close(code=WSCloseCode.GOING_AWAY, message=b"the server is stopping")
                               for s in list(live_sockets)), return_exceptions=True)

    app.on_shutdown.append(close_live_sockets)
    app.on_cleanup.append(stop_hashing)
    app.add_routes(routes)
    add_report_routes(app, store, router.hours.zone)
    app.add_routes(gaps_routes(store, canned, encoder_spec))
    app.router.add_static("/console/static/", STATIC_DIR, show_index=False)
    return app


class LiveFeed:
    """Sends one agent the events of the shared event table: queue snapshots, messages, state changes, typing.
    It only queues frames (`out`), so a socket that does not read holds up nothing but itself; a failure to read
    the events or to build a frame is logged, and the feed goes on."""

    def __init__(self, console: Console, agent: AgentView, out: BoundedSender, session_token: str = "",
                 poll_seconds: float = LIVE_POLL_SECONDS):
        self.console = console
        self.agent = agent
        self.out = out
        self.session_token = session_token
        self.follower = LiveEventFollower(console.store, poll_seconds=poll_seconds)

    async def _session_ended(self) -> bool:
        """Logout, expiry, a new password or a deactivated agent: the socket closes with its session."""
        return await asyncio.to_thread(self.console.store.agents.for_session, self.session_token,
                                       self.console.session_idle) is None

    async def run(self) -> None:
        checked = time.monotonic()
        while not self.out.closed:
            try:
                if not self.follower.following:
                    await self.follower.start()  # before the snapshot, so that no event falls in between
                    await self._send_queue()
                else:
                    if time.monotonic() - checked >= SESSION_CHECK_SECONDS:
                        checked = time.monotonic()
                        if await self._session_ended():
                            self.out.finish(SESSION_ENDED_CLOSE_CODE, b"session ended")
                            return
                    await self._pass_on(await self.follower.next_batch())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the live feed of %s failed; trying again", self.agent.username)
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
                continue
            await self.follower.wait()

    async def _pass_on(self, events) -> None:
        queue_changed = False
        for event in events:
            try:
                queue_changed |= await self._send(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live event %s could not be sent to %s", event.id, self.agent.username)
        if queue_changed:
            await self._send_queue()

    async def _send_queue(self) -> None:
        self.out.send({"type": "queue", **await asyncio.to_thread(self.console.queue, self.agent)})

    async def _send(self, event) -> bool:
        """Send one event; True when the queue may have changed."""
        if event.kind == "message":
            conversation = await asyncio.to_thread(self.console.store.get, event.conversation_id)
            if conversation.state == "bot":
                return False  # the bot's own conversations are not the agents' business
            message = event.payload.get("message") or {}
            self.out.send({"type": "message", "message": message})
            return message.get("role") == "customer"
        if event.kind == "typing":
            if event.payload.get("who") == "customer":
                self.out.send({"type": "typing", "conversation_id": event.conversation_id, "who": "customer"})
            return False
        if event.kind == "state":
            conversation = await asyncio.to_thread(self.console.store.get, event.conversation_id)
            self.out.send({"type": "conversation", "conversation": await asyncio.to_thread(self.console.summary, conversation)})
            return True
        return False
