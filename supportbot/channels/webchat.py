"""The embeddable web chat: the widget's files, a demo page, and its WebSocket (docs/webchat.md).

Customer messages go through the conversation router like every other channel. Whatever reaches the
conversation later (an agent's reply, queue and ownership changes, typing) comes from the shared
live_events table, which one poller per gateway process follows and fans out to the sockets it serves,
so several gateways can serve the same customers. Every frame to a socket goes through its own bounded queue:
a customer whose connection does not keep up is disconnected, and nobody else waits for them."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Set

from aiohttp import WSCloseCode, WSMsgType, web

from replies.composer import DEFAULT_BOT_NAME
from handoff.live_events import (ERROR_BACKOFF_SECONDS, SEND_QUEUE_FRAMES, SEND_TIMEOUT_SECONDS, BoundedSender,
                                 LiveEventFollower)
from handoff.client_address import client_address
from protocol.limits import CEILING_CHARS, storable
from handoff.router import ConversationRouter, TooManyMessages
from handoff.store import CUSTOMER_VISIBLE_ROLES, HandoffStore
from handoff.views import EventView, MessageView, NotFound

log = logging.getLogger(__name__)

CHANNEL = "webchat"
STATIC_DIR = Path(__file__).resolve().parent / "webchat_static"
SESSION_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,100}$")
CLIENT_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # the widget's own id of a message: a resend is stored once
MAX_FRAME_CHARS = CEILING_CHARS + 4 * 1024  # larger frames get an error frame and are dropped
MAX_SOCKET_BYTES = 64 * 1024     # larger frames close the socket (1009), aiohttp's own limit
MAX_PENDING = 10                 # messages and feedback queued behind the one being answered
MAX_ID = 2**63 - 1               # the largest id the database holds
HISTORY_PAGE = 100               # messages in the history frame; older ones on request, page by page
HEARTBEAT_SECONDS = 25
POLL_SECONDS = 0.3
NEW_CONVERSATIONS_PER_HOUR = 30  # per client address
CUSTOMER_TYPING_EVERY = 2.0
# what of a message's metadata the customer may see (not scores, sentiment or handoff reasons)
PUBLIC_META = ("kind", "language", "faq_id", "position", "expected_minutes", "after_hours", "agent", "rating", "intent")

FILES = {
    "widget.js": "application/javascript",
    "widget.css": "text/css",
    "demo.html": "text/html",
    "demo.js": "application/javascript",
}
DEMO_CSP = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-ancestors 'none'")


class FrameError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def valid_session(session: Any) -> bool:
    return isinstance(session, str) and bool(SESSION_PATTERN.match(session))


def public_message(message: Dict[str, Any], bot_name: str) -> Dict[str, Any]:
    """A stored message (MessageView.to_json()) as the customer sees it. A pressed quick reply is stored under
    its title (the router keeps the payload aside), so it reads as the customer chose it."""
    meta = {k: v for k, v in (message.get("meta") or {}).items() if k in PUBLIC_META}
    buttons = [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
               for b in message.get("buttons") or [] if isinstance(b, dict)]
    role = message.get("role")
    author = message.get("author")
    if role == "bot":
        author = bot_name
    return {"id": message["id"], "role": role, "text": message.get("text") or "", "buttons": buttons,
              "meta": meta, "author": author, "created_at": message.get("created_at")}


def parse_frame(data: str) -> Dict[str, Any]:
    """One client frame's shape, checked; FrameError says what is wrong with it. A message longer than the
    configured limit is the router's to answer, as on every channel."""
    if len(data) > MAX_FRAME_CHARS:
        raise FrameError("too_big", f"a frame may have at most {MAX_FRAME_CHARS} characters")
    try:
        frame = json.loads(data)
    except (ValueError, RecursionError):
        raise FrameError("bad_frame", "a frame must be a JSON object")
    if not isinstance(frame, dict):
        raise FrameError("bad_frame", "a frame must be a JSON object")
    kind = frame.get("type")
    if kind == "hello":
        if not valid_session(frame.get("session")):
            raise FrameError("bad_session", "'session' must be 8-100 characters of A-Z, a-z, 0-9, '_' and '-'")
    elif kind == "message":
        text = frame.get("text")
        if not isinstance(text, str) or not text.strip():
            raise FrameError("bad_frame", "'text' must be a non-empty string")
        if len(text) > CEILING_CHARS:
            raise FrameError("too_long", f"a message may have at most {CEILING_CHARS} characters")
        if "display" in frame and not isinstance(frame["display"], (str, type(None))):
            raise FrameError("bad_frame", "'display' must be a string")
        if "payload" in frame and not isinstance(frame["payload"], (dict, type(None))):
            raise FrameError("bad_frame", "'payload' must be an object")
        if not storable(text) or not storable(frame.get("display") or ""):
            raise FrameError("bad_frame", "'text' and 'display' must be valid unicode")
        if "id" in frame and not (isinstance(frame["id"], str) and CLIENT_MESSAGE_ID.match(frame["id"])):
            raise FrameError("bad_frame", "'id' must be 1-100 characters of A-Z, a-z, 0-9, '_' and '-'")
    elif kind == "feedback":
        message_id, helpful = frame.get("message_id"), frame.get("helpful")
        if not isinstance(message_id, int) or isinstance(message_id, bool) or not 0 < message_id <= MAX_ID:
            raise FrameError("bad_frame", "'message_id' must be a message id")
        if not isinstance(helpful, bool):
            raise FrameError("bad_frame", "'helpful' must be true or false")
    elif kind == "typing":
        pass
    elif kind == "history":
        before = frame.get("before")
        if not isinstance(before, int) or isinstance(before, bool) or not 0 < before <= MAX_ID:
            raise FrameError("bad_frame", "'before' must be a message id")
    else:
        raise FrameError("bad_frame", f"unknown frame type {str(kind)[:40]!r}")
    return frame


class Client:
    """One customer's socket. Frames to it are only ever queued (`out`), never awaited."""

    def __init__(self, hub: "WebchatHub", socket: web.WebSocketResponse, address: str = "unknown",
                 transport: Optional[asyncio.BaseTransport] = None):
        self.hub = hub
        self.socket = socket
        self.address = address
        self.out = BoundedSender(socket, transport, max_queued=hub.send_queue_frames, send_timeout=hub.send_timeout,
                                 name=f"a web chat socket of {address}")
        self.session: Optional[str] = None
        self.conversation_id: Optional[int] = None
        self.sent: Set[int] = set()            # message ids this socket has been sent
        self.ready = False                     # history sent; live frames before that wait in `held`
        self.held: List[Dict[str, Any]] = []
        self.last_status: Optional[Dict[str, Any]] = None
        self.last_typing = 0.0
        self.jobs: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()
        self.worker: Optional[asyncio.Task] = None

    def send(self, frame: Dict[str, Any]) -> None:
        self.out.send(frame)

    def error(self, code: str, message: str) -> None:
        self.send({"type": "error", "code": code, "error": message})

    def send_message(self, message: Dict[str, Any]) -> None:
        """A stored message, once per socket, customer-visible roles only."""
        if message.get("role") not in CUSTOMER_VISIBLE_ROLES or message.get("id") in self.sent:
            return
        self.sent.add(message["id"])
        self.send({"type": "message", "message": public_message(message, self.hub.bot_name)})

    def live(self, frame: Dict[str, Any]) -> None:
        """A frame from the poller; held back until the history is out."""
        if not self.ready:
            if len(self.held) < self.hub.send_queue_frames:
                self.held.append(frame)
            return
        self._deliver(frame)

    def _deliver(self, frame: Dict[str, Any]) -> None:
        if frame["type"] == "message":
            self.send_message(frame["message"])
        elif frame["type"] == "status":
            self.send_status(frame)
        else:
            self.send(frame)

    def send_status(self, status: Dict[str, Any]) -> None:
        if status != self.last_status:
            self.last_status = status
            self.send(status)

    def release(self) -> None:
        self.ready = True
        held, self.held = self.held, []
        for frame in held:
            self._deliver(frame)


class NewConversationLimit:
    """At most `per_hour` new conversations per client address in any hour (0: no limit). Counted in the memory
    of this gateway process: each gateway allows as many, and a restart forgets."""

    def __init__(self, per_hour: int, window: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        self.per_hour = per_hour
        self.window = window
        self.clock = clock
        self._starts: Dict[str, Deque[float]] = {}

    def allow(self, address: str) -> bool:
        """Whether `address` may start one more conversation now; if so, it is counted."""
        if self.per_hour <= 0:
            return True
        now = self.clock()
        if len(self._starts) > 10_000:  # addresses that started nothing for an hour are forgotten
            self._starts = {a: s for a, s in self._starts.items() if s and now - s[-1] < self.window}
        starts = self._starts.setdefault(address, deque())
        while starts and now - starts[0] >= self.window:
            starts.popleft()
        if len(starts) >= self.per_hour:
            return False
        starts.append(now)
        return True


class WebchatHub:
    """The sockets this gateway process serves, by conversation, and the one poller that feeds them."""

    def __init__(self, router: ConversationRouter, poll_seconds: float = POLL_SECONDS,
                 new_conversations_per_hour: int = NEW_CONVERSATIONS_PER_HOUR, trust_forwarded_for: bool = False,
                 send_queue_frames: int = SEND_QUEUE_FRAMES, send_timeout: float = SEND_TIMEOUT_SECONDS,
                 bot_name: str = DEFAULT_BOT_NAME):
        self.router = router
        self.bot_name = bot_name  # the author of the bot's messages, as the customer sees them
        self.store: HandoffStore = router.store
        self.clients: Set[Client] = set()
        self.by_conversation: Dict[int, Set[Client]] = {}
        self.follower = LiveEventFollower(self.store, poll_seconds=poll_seconds)
        self.new_conversations = NewConversationLimit(new_conversations_per_hour)
        self.trust_forwarded_for = trust_forwarded_for
        self.send_queue_frames = send_queue_frames
        self.send_timeout = send_timeout
        self.task: Optional[asyncio.Task] = None

    async def _db(self, method, *args):
        return await asyncio.to_thread(method, *args)

    # clients

    async def attach(self, client: Client, conversation_id: int) -> None:
        """From now on the poller sends this conversation's events to the client."""
        await self.follower.start()  # before the caller reads the history, so nothing falls in between
        if client.conversation_id is not None:
            self.by_conversation.get(client.conversation_id, set()).discard(client)
        client.conversation_id = conversation_id
        self.by_conversation.setdefault(conversation_id, set()).add(client)

    def add(self, client: Client) -> None:
        self.clients.add(client)

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        if client.conversation_id is not None:
            served = self.by_conversation.get(client.conversation_id)
            if served is not None:
                served.discard(client)
                if not served:
                    del self.by_conversation[client.conversation_id]
        if not self.clients:
            self.follower.stop()  # idle: no polling until the next customer comes

    def local(self, conversation_id: int) -> List[Client]:
        return list(self.by_conversation.get(conversation_id, ()))

    # status

    def status(self, conversation_id: Optional[int]) -> Dict[str, Any]:
        """The conversation's handoff status frame (synchronous: call in a thread)."""
        if conversation_id is None:
            return {"type": "status", "state": "bot", "queue_position": None, "agent": None}
        return {"type": "status", **self.store.customer_statuses([conversation_id]).get(
            conversation_id, {"state": "bot", "queue_position": None, "agent": None})}

    async def refresh_status(self, conversation_ids) -> None:
        served = [i for i in conversation_ids if self.local(i)]
        if not served:
            return
        for conversation_id, status in (await self._db(self.store.customer_statuses, served)).items():
            for client in self.local(conversation_id):
                client.live({"type": "status", **status})

    # the poller

    async def run(self) -> None:
        """Until cancelled: a failure is logged, and the poller tries again after a pause."""
        while True:
            await self.follower.wait()
            if not self.follower.following or not self.by_conversation:
                continue
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the web chat's live poller failed; trying again")
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)

    async def poll_once(self) -> None:
        events = await self.follower.next_batch()
        status_changed: Set[int] = set()
        queue_moved = False
        for event in events:
            if event.kind == "state":
                queue_moved = True
                status_changed.add(event.conversation_id)
                continue
            try:
                self._fan_out(event)
            except Exception:
                log.exception("live event %s could not be passed on to the web chat", event.id)
        if queue_moved:  # someone's handoff, claim or return moves everyone behind them in the queue
            waiting = {c.conversation_id for c in self.clients
                       if c.conversation_id is not None and (c.last_status or {}).get("state") == "waiting"}
            await self.refresh_status(sorted(status_changed | waiting))

    def _fan_out(self, event: EventView) -> None:
        clients = self.local(event.conversation_id)
        if not clients:
            return
        if event.kind == "message":
            message = event.payload.get("message")
            if isinstance(message, dict) and message.get("role") in CUSTOMER_VISIBLE_ROLES:
                for client in clients:
                    client.live({"type": "message", "message": message})
        elif event.kind == "typing" and event.payload.get("who") == "agent":
            frame = {"type": "typing", "who": "agent", "agent": event.payload.get("agent"), "active": True}
            for client in clients:
                client.live(frame)

    async def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
        closing = [client.out.close(WSCloseCode.GOING_AWAY, b"server shutdown") for client in list(self.clients)]
        await asyncio.gather(*closing, return_exceptions=True)

    # the socket

    async def serve(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_SOCKET_BYTES)
        if not socket.can_prepare(request).ok:
            return web.json_response({"error": "this is a WebSocket: connect with a WebSocket client"}, status=400)
        await socket.prepare(request)
        client = Client(self, socket, client_address(request, self.trust_forwarded_for), request.transport)
        self.add(client)
        client.worker = asyncio.create_task(self._work(client))
        try:
            async for incoming in socket:
                if incoming.type == WSMsgType.BINARY:
                    client.error("bad_frame", "frames are JSON text")
                    continue
                if incoming.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = parse_frame(incoming.data)
                except FrameError as problem:
                    client.error(problem.code, str(problem))
                    continue
                await self._accept(client, frame)
        finally:
            client.worker.cancel()
            self.remove(client)
            await client.out.stop()
        return socket

    async def _accept(self, client: Client, frame: Dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "hello":
            if client.session is not None and frame["session"] != client.session:
                client.error("bad_session", "this socket already belongs to another session")
                return
            client.session = frame["session"]
            await client.jobs.put(frame)  # after any earlier job, so the history includes its answers
            return
        if client.session is None:
            client.error("hello_first", "send a hello frame with your session first")
            return
        if kind == "typing":
            now = time.monotonic()
            if now - client.last_typing >= CUSTOMER_TYPING_EVERY:
                client.last_typing = now
                try:
                    await self.router.customer_typing(CHANNEL, client.session)
                except Exception:
                    log.exception("could not publish the customer's typing")
            return
        if client.jobs.qsize() >= MAX_PENDING:
            client.error("busy", "too many messages at once; please wait for the answers")
            return
        await client.jobs.put(frame)

    async def _work(self, client: Client) -> None:
        """A socket's messages, feedback and hellos, one at a time and in order, while the reader keeps reading."""
        while True:
            frame = await client.jobs.get()
            try:
                if frame["type"] == "hello":
                    await self._hello(client)
                elif frame["type"] == "message":
                    await self._message(client, frame)
                elif frame["type"] == "feedback":
                    await self._feedback(client, frame)
                elif frame["type"] == "history":
                    await self._earlier(client, frame["before"])
            except asyncio.CancelledError:
                raise
            except FrameError as refused:
                client.error(refused.code, str(refused))
            except Exception:
                log.exception("web chat frame %s failed", frame.get("type"))
                client.error("server_error", "something went wrong; please try again")

    async def _hello(self, client: Client) -> None:
        client.ready = False
        conversation = await self._db(self.store.find, CHANNEL, client.session)
        messages: List[MessageView] = []
        has_earlier = False
        if conversation is not None:
            await self.attach(client, conversation.id)
            messages, has_earlier = await self._db(self.store.messages_page, conversation.id, None, HISTORY_PAGE,
                                                   CUSTOMER_VISIBLE_ROLES)
        status = await self._db(self.status, conversation.id if conversation else None)
        client.sent.update(m.id for m in messages)
        client.last_status = status
        client.send({
            "type": "history", "bot_name": self.bot_name, "max_chars": self.router.limits.max_chars,
            "messages": [public_message(m.to_json(), self.bot_name) for m in messages], "has_earlier": has_earlier,
            "status": {k: v for k, v in status.items() if k != "type"},
        })
        client.release()

    async def _earlier(self, client: Client, before: int) -> None:
        """The page of messages before `before`, for a customer scrolling back."""
        messages: List[MessageView] = []
        has_earlier = False
        conversation_id = client.conversation_id
        if conversation_id is None:
            conversation = await self._db(self.store.find, CHANNEL, client.session)
            conversation_id = conversation.id if conversation else None
        if conversation_id is not None:
            messages, has_earlier = await self._db(self.store.messages_page, conversation_id, before, HISTORY_PAGE,
                                                   CUSTOMER_VISIBLE_ROLES)
        client.send({"type": "history_page", "before": before, "has_earlier": has_earlier,
                     "messages": [public_message(m.to_json(), self.bot_name) for m in messages]})

    async def _ensure_attached(self, client: Client) -> None:
        """The conversation exists from the first message on; the customer's other tabs follow it too. A new one
        only while the customer's address has not started too many (nothing is stored then)."""
        if client.conversation_id is None:
            conversation = await self._db(self.store.find, CHANNEL, client.session)
            if conversation is None:
                if not self.new_conversations.allow(client.address):
                    raise FrameError("too_many_conversations", "Sorry, too many new conversations have been started "
                                     "from your address lately. Please continue an earlier one or try again later.")
                conversation = await self._db(self.store.conversation, CHANNEL, client.session)
            for other in [c for c in self.clients if c.session == client.session and c.conversation_id is None]:
                await self.attach(other, conversation.id)

    async def _message(self, client: Client, frame: Dict[str, Any]) -> None:
        await self._ensure_attached(client)  # before the router stores anything, so the poller sees it all
        metadata: Dict[str, Any] = {"channel": CHANNEL}
        if isinstance(frame.get("payload"), dict):
            metadata["payload"] = frame["payload"]
        if isinstance(frame.get("display"), str) and frame["display"].strip():
            metadata["display"] = frame["display"][:200]
        bot_speaks = (client.last_status or {}).get("state", "bot") in ("bot", "closed")
        mark = max(client.sent, default=0)
        if bot_speaks:
            await self._typing(client, True)
        try:
            replies = await self.router.receive(CHANNEL, client.session, frame["text"], metadata, frame.get("id"))
        except TooManyMessages as refused:
            client.error("too_many_messages", str(refused))
            return
        finally:
            if bot_speaks:
                await self._typing(client, False)
        await self._send_now(client, mark, replies)
        await self.refresh_status([client.conversation_id])  # the state may change without an event (closed → bot)

    async def _send_now(self, client: Client, mark: int, replies: List[MessageView]) -> None:
        """The replies, and before them the customer's own message (stored by the router), in order, without
        waiting for the poller; whatever the poller already sent is not sent again."""
        stored = await self._db(self.store.messages, client.conversation_id, mark, CUSTOMER_VISIBLE_ROLES)
        known = {m.id for m in stored}
        ordered = sorted(stored + [r for r in replies if r.id not in known], key=lambda m: m.id)
        for message in ordered:
            for other in self.local(client.conversation_id):
                other.send_message(message.to_json())

    async def _feedback(self, client: Client, frame: Dict[str, Any]) -> None:
        await self._ensure_attached(client)
        mark = max(client.sent, default=0)
        bot_speaks = not frame["helpful"] and (client.last_status or {}).get("state", "bot") == "bot"
        if bot_speaks:  # "not helpful" on the latest answer makes the bot try again
            await self._typing(client, True)
        try:
            replies = await self.router.feedback(CHANNEL, client.session, frame["message_id"], frame["helpful"])
        except (NotFound, ValueError) as problem:
            client.error("bad_feedback", str(problem) or "no such answer in this conversation")
            return
        finally:
            if bot_speaks:
                await self._typing(client, False)
        await self._send_now(client, mark, replies)
        await self.refresh_status([client.conversation_id])

    async def _typing(self, client: Client, active: bool) -> None:
        frame = {"type": "typing", "who": "bot", "agent": None, "active": active}
        for other in self.local(client.conversation_id) or [client]:
            other.send(frame)


def parse_origins(allowed: str) -> Optional[Set[str]]:
    """WEBCHAT_ALLOWED_ORIGINS as a set of origins ("https://shop.example.com"); None when any site may embed."""
    origins = {o.strip().rstrip("/").lower() for o in allowed.split(",") if o.strip()}
    return origins or None


def webchat_routes(hub: WebchatHub, allowed_origins: Optional[Set[str]] = None) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    def file_response(name: str, extra: Optional[Dict[str, str]] = None) -> web.StreamResponse:
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", **(extra or {})}
        return web.FileResponse(STATIC_DIR / name, headers=headers)

    @routes.get("/")
    @routes.get("/webchat/demo")
    async def demo(request: web.Request) -> web.StreamResponse:
        return file_response("demo.html", {"Content-Security-Policy": DEMO_CSP, "Referrer-Policy": "no-referrer"})

    @routes.get("/webchat/{name}")
    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "socket":
            origin = request.headers.get("Origin", "").rstrip("/").lower()
            own = f"{request.scheme}://{request.host}".lower()
            if allowed_origins is not None and origin not in allowed_origins and origin != own:
                return web.json_response({"error": "this site may not open the chat"}, status=403)
            return await hub.serve(request)
        if name not in FILES or name == "demo.html":
            return web.json_response({"error": "not found"}, status=404)
        # the widget is embedded on other sites: its files may be fetched from any origin
        return file_response(name, {"Access-Control-Allow-Origin": "*", "Content-Type": FILES[name]})

    return routes


HUB_KEY = web.AppKey("webchat_hub", WebchatHub)


def install_webchat(app: web.Application, router: ConversationRouter, allowed_origins: str = "",
                    new_conversations_per_hour: int = NEW_CONVERSATIONS_PER_HOUR,
                    trust_forwarded_for: bool = False, bot_name: str = DEFAULT_BOT_NAME) -> WebchatHub:
    """Adds the web chat's routes to the gateway and runs its live poller while the app runs. `allowed_origins`:
    the sites that may open the socket, comma-separated (the gateway's own demo page always may); empty: any.
    `new_conversations_per_hour`: per client address (0: no limit); `trust_forwarded_for`: the gateway is behind
    a proxy that names the client in X-Forwarded-For; `bot_name`: the configured BOT_NAME."""
    hub = WebchatHub(router, new_conversations_per_hour=new_conversations_per_hour,
                     trust_forwarded_for=trust_forwarded_for, bot_name=bot_name)
    app[HUB_KEY] = hub
    app.add_routes(webchat_routes(hub, parse_origins(allowed_origins)))

    async def poller(app: web.Application):
        await hub.start()
        yield
        await hub.stop()

    app.cleanup_ctx.append(poller)
    return hub
