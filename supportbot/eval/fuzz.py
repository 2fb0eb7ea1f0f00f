"""`supportbot eval fuzz`: property-based fuzzing of every public route and frame of the gateway.

The real gateway app (supportbot.gateway.build_app) serves over real HTTP on 127.0.0.1, on a scratch SQLite
database, with the Telegram channel in webhook mode against a small local stand-in for the Bot API, and an
in-process stand-in for the Rasa server that answers, offers buttons, hands off, says nothing or fails.
Hypothesis generates the requests and frames, well-formed ones and hostile ones, and they go over real sockets.

A case fails on a 5xx response, on a connection the server drops or leaves unanswered, on a socket it closes
abnormally, and on any exception logged with its traceback while the case runs (aiohttp's "Error handling
request", a channel's catch-all such as the web chat's `server_error` frame, a failed Telegram update)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import logging
import secrets
import tempfile
import threading
import time
import traceback
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union
from urllib.parse import quote

import aiohttp
import yarl
from aiohttp import WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError
from hypothesis import HealthCheck, Phase, Verbosity, given, seed as hypothesis_seed, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from sqlalchemy import func, select

from handoff import models
from handoff.bot_client import BotUnavailable
from handoff.console.app import ROUTER_KEY
from handoff.db import migrate
from handoff.hours import BusinessHours
from handoff.store import HandoffStore
from protocol.kinds import Kind
from protocol.moods import Mood
from protocol.reasons import Reason
from supportbot.channels.telegram import TELEGRAM_KEY
from supportbot.channels.webchat import MAX_SOCKET_BYTES, FrameError, parse_frame
from supportbot.gateway import build_app
from supportbot.settings import PROJECT_ROOT, Settings

DEFAULT_CASES = 10_000
DEFAULT_SEED = 20261202
CASE_TIMEOUT = 30.0  # an answer that takes longer counts as none: the server hangs
MINIMIZED_PER_TARGET = 3  # failures shrunk to a minimal example, per target
SESSION_MARK = "<<valid-session>>"  # stands for a console session minted for the case just before it is sent
TELEGRAM_TOKEN = "123456:fuzz-token"
AGENT = ("fuzz-agent", "Fuzz Agent")
REST_SENDERS = [f"fuzz-{i}" for i in range(12)]
WEBCHAT_SESSIONS = [f"fuzz-session-{i}" for i in range(8)]
TELEGRAM_CHATS = [710000 + i for i in range(8)]
WEBCHAT_ORIGIN = "https://shop.example"  # the one other site allowed to open the web chat


# --- the stand-ins ------------------------------------------------------------------------------------------

class StandInBot:
    """The Rasa server's part (handoff.bot_client.RasaBotClient's interface), in process. The reply depends on the
    text alone, so a case does the same when it is replayed: an answer, buttons, a handoff, nothing, or a failure."""

    async def send(self, sender_id: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        choice = 5 if "human" in text.lower() else zlib.crc32(text.encode("utf-8", "surrogatepass")) % 10
        if choice <= 3:
            return [{"text": f"An answer to: {text[:40]}", "custom": {"kind": Kind.ANSWER, "language": "en", "faq_id": f"entry-{choice}"}}]
        if choice == 4:
            return [{"text": "Which one did you mean?", "custom": {"kind": Kind.CLARIFY, "language": "en"},
                     "buttons": [{"title": "Refunds", "payload": '/faq{"faq_id":"entry-1"}'},
                                 {"title": "Card payments", "payload": '/faq{"faq_id":"entry-2"}'}]}]
        if choice == 5:
            return [{"text": "A colleague will take over.", "custom": {
                "kind": Kind.HANDOFF, "reason": Reason.HUMAN_REQUEST, "language": "en", "customer_name": "Mari", "question": text[:200],
                "considered": [{"faq_id": "entry-1", "score": 0.41}], "sentiment": {"label": Mood.CALM, "signals": []}}}]
        if choice == 6:
            return []
        if choice == 7:
            raise BotUnavailable("the stand-in bot fails on this text")
        if choice == 8:
            return [{"text": "Tere! Kuidas saan aidata?", "custom": {"kind": Kind.ANSWER, "language": "et", "register": "informal",
                                                                      "faq_id": "entry-8"}},
                    {"text": "Kas see aitas?", "buttons": [{"title": "Jah", "payload": "/affirm"}, {"title": "Ei", "payload": "/deny"}]}]
        return [{"recipient_id": sender_id, "image": "https://example.com/card.png"}]

    async def close(self) -> None:
        pass


class BotApiStandIn:
    """Just enough of the Telegram Bot API for the channel to start in webhook mode and to send its replies."""

    BOT_USER = {"id": 7000001, "is_bot": True, "first_name": "Laine", "username": "laine_fuzz_bot"}

    def __init__(self) -> None:
        self.message_ids = iter(range(1, 10**9))
        self.calls: Counter = Counter()  # by method, so the report can say the updates got answered

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        params: Dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        method = request.match_info["method"].lower()
        self.calls[method] += 1
        if method == "getme":
            result: Any = self.BOT_USER
        elif method == "sendmessage":
            try:
                chat_id = int(params.get("chat_id", 0))
            except ValueError:
                chat_id = 0
            result = {"message_id": next(self.message_ids), "date": int(time.time()), "from": self.BOT_USER,
                      "chat": {"id": chat_id, "type": "private"}, "text": str(params.get("text", ""))}
        else:
            result = True
        return web.json_response({"ok": True, "result": result})


# --- serving ------------------------------------------------------------------------------------------------

class ServedApp:
    """An aiohttp app served over real HTTP on 127.0.0.1, from an event loop in a thread of its own, so the
    client side of the fuzzing never shares the server's loop."""

    def __init__(self, make_app: Optional[Callable[[], Any]] = None):
        self.make_app = make_app
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.runner: Optional[web.AppRunner] = None
        self.port = 0
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._failure: Optional[BaseException] = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "ServedApp":
        self._thread = threading.Thread(target=self._serve, name="fuzzed-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(120):
            raise RuntimeError("the server did not start within 120 s")
        if self._failure is not None:
            raise RuntimeError("the server did not start") from self._failure
        return self

    def __exit__(self, *exc_info) -> None:
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(60)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def call(self, coroutine, timeout: float = CASE_TIMEOUT):
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as failure:  # reported by __enter__
            self._failure = failure
            self._ready.set()
            return
        self._ready.set()
        try:
            self.loop.run_forever()
            self.loop.run_until_complete(self._stop())
        finally:
            self.loop.close()

    async def build(self) -> web.Application:
        app = self.make_app()
        return await app if inspect.isawaitable(app) else app

    async def _start(self) -> None:
        self.runner = web.AppRunner(await self.build(), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def _stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def settle(self, timeout: float = CASE_TIMEOUT) -> bool:
        """Wait until the server has finished with every connection (so whatever a case makes it log is logged
        before the next case starts); False if it still holds one after `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.runner.server is not None and self.runner.server.connections:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.002)
        await asyncio.sleep(0)
        return True


class FuzzedGateway(ServedApp):
    """The real gateway (build_app) on a scratch SQLite database, with the stand-in bot, the Telegram channel in
    webhook mode against the stand-in Bot API, one agent, and a few conversations already waiting for a person."""

    def __init__(self) -> None:
        super().__init__()
        self.rest_token = secrets.token_urlsafe(18)
        self.telegram_secret = secrets.token_urlsafe(18)
        self.agent_password = secrets.token_urlsafe(12)
        self._directory = tempfile.TemporaryDirectory(prefix="supportbot-fuzz-")
        self.database_url = f"sqlite:///{Path(self._directory.name) / 'fuzz.db'}"
        self.store: Optional[HandoffStore] = None
        self.agent_id = 0
        self.telegram = None
        self.bot_api = BotApiStandIn()
        self._bot_api_runner: Optional[web.AppRunner] = None
        self._ids: Dict[str, Tuple[float, List[int]]] = {}

    @property
    def own_origin(self) -> str:
        return f"http://{self.host}"

    def __exit__(self, *exc_info) -> None:
        super().__exit__(*exc_info)
        if self.store is not None:
            self.store.engine.dispose()
        self._directory.cleanup()

    async def build(self) -> web.Application:
        self._bot_api_runner = web.AppRunner(self.bot_api.app(), access_log=None, handle_signals=False)
        await self._bot_api_runner.setup()
        bot_api = web.TCPSite(self._bot_api_runner, "127.0.0.1", 0)
        await bot_api.start()
        bot_api_url = f"http://127.0.0.1:{self._bot_api_runner.addresses[0][1]}"
        await asyncio.to_thread(migrate, self.database_url)
        self.store = HandoffStore.open(self.database_url, run_migrations=False)
        agent = await asyncio.to_thread(self.store.agents.create, AGENT[0], AGENT[1], self.agent_password, "admin")
        self.agent_id = agent.id
        settings = Settings(
            database_url=self.database_url, redis_url="", rest_api_token=self.rest_token, secure_cookies=False,
            webchat_origins=WEBCHAT_ORIGIN, telegram_token=TELEGRAM_TOKEN, telegram_api_url=bot_api_url,
            telegram_webhook_url="https://gateway.invalid/webhooks/telegram", telegram_webhook_secret=self.telegram_secret)
        app = build_app(settings, store=self.store, bot=StandInBot(), hours=BusinessHours.parse("always"))
        self.telegram = app[TELEGRAM_KEY]
        return app

    async def _start(self) -> None:
        await super()._start()
        await asyncio.wait_for(self.telegram.ready.wait(), 60)  # getMe and setWebhook against the stand-in
        router = self.runner.app[ROUTER_KEY]
        for i in range(4):  # conversations that wait for a person, for the console to claim, answer and close
            await router.receive("rest", f"waiting-{i}", "I want to talk to a human")

    async def _stop(self) -> None:
        await super()._stop()
        if self._bot_api_runner is not None:
            await self._bot_api_runner.cleanup()

    async def settle(self, timeout: float = CASE_TIMEOUT) -> bool:
        """Also until the Telegram channel has handled every update it took."""
        started = asyncio.get_running_loop().time()
        if not await super().settle(timeout):
            return False
        try:
            await asyncio.wait_for(self.telegram.application.update_queue.join(),
                                   max(0.1, timeout - (asyncio.get_running_loop().time() - started)))
        except asyncio.TimeoutError:
            return False
        return await super().settle(timeout)

    # what the strategies pick from while the run goes on

    def fresh_session(self) -> str:
        return self.store.agents.start_session(self.agent_id)

    def _cached(self, key: str, load: Callable[[], List[int]]) -> List[int]:
        loaded_at, ids = self._ids.get(key, (0.0, []))
        if time.monotonic() - loaded_at > 2.0:
            ids = load()
            self._ids[key] = (time.monotonic(), ids)
        return ids

    def _bot_message_ids(self, channel: str) -> List[int]:
        query = (select(models.Message.id).join(models.Conversation, models.Conversation.id == models.Message.conversation_id)
                 .where(models.Conversation.channel == channel, models.Message.role == "bot")
                 .order_by(models.Message.id.desc()).limit(200))
        with self.store.session() as s:
            return list(s.execute(query).scalars())

    def bot_message(self, channel: str, index: int) -> int:
        """One of the channel's recent bot messages (answers among them), or a made-up id when there is none."""
        ids = self._cached(f"bot:{channel}", lambda: self._bot_message_ids(channel))
        return ids[index % len(ids)] if ids else index + 1

    def conversation(self, index: int) -> int:
        def load() -> List[int]:
            with self.store.session() as s:
                return [int(s.execute(select(func.max(models.Conversation.id))).scalar() or 0)]

        highest = self._cached("conversations", load)[0]
        return index % (highest + 2) + 1  # now and then one past the last


# --- cases, and what the server made of them ----------------------------------------------------------------

@dataclass(frozen=True)
class HttpCase:
    method: bytes
    target: bytes  # the request line's path and query, as sent
    headers: Tuple[Tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    host: Optional[bytes] = None  # None: the server's own address


@dataclass(frozen=True)
class Frame:
    data: Union[str, bytes]  # bytes go as a binary frame

    @property
    def binary(self) -> bool:
        return isinstance(self.data, bytes)


@dataclass(frozen=True)
class SocketCase:
    path: str
    headers: Tuple[Tuple[str, str], ...]
    frames: Tuple[Frame, ...]
    kind: str  # "webchat" or "console": how the end of the server's answers is recognised


Case = Union[HttpCase, SocketCase]


@dataclass(frozen=True)
class Failure:
    kind: str  # "5xx" or "crash"
    signature: str  # what the same bug has in common from case to case
    detail: str


@dataclass
class CaseResult:
    statuses: List[int] = field(default_factory=list)  # the HTTP answers; 101 for an accepted socket
    frames_sent: int = 0
    error_frames: int = 0
    failures: List[Failure] = field(default_factory=list)
    symptoms: List[Failure] = field(default_factory=list)  # crashes a logged error, when there is one, explains better
    logged: List["LoggedError"] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def crash(self, signature: str, detail: str = "") -> None:
        self.failures.append(Failure("crash", signature, detail or signature))

    def symptom(self, signature: str, detail: str = "") -> None:
        self.symptoms.append(Failure("crash", signature, detail or signature))


@dataclass(frozen=True)
class LoggedError:
    signature: str
    detail: str
    # aiohttp's parser refused the request (or its body's encoding) and answered it with a 4xx itself
    malformed_http: bool = False


class ErrorLog(logging.Handler):
    """Collects, from every logger, the errors logged with a traceback, and aiohttp's own errors."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: List[LoggedError] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not (record.exc_info and record.exc_info[1] is not None) and not record.name.startswith("aiohttp"):
            return  # an expected failure the product reports in words (the bot down, a refused login)
        entry = logged_error(record)
        with self._lock:
            self.records.append(entry)

    def mark(self) -> int:
        with self._lock:
            return len(self.records)

    def since(self, mark: int) -> List[LoggedError]:
        with self._lock:
            return self.records[mark:]


def logged_error(record: logging.LogRecord) -> LoggedError:
    message = record.getMessage()[:160]
    if not (record.exc_info and record.exc_info[1] is not None):
        return LoggedError(f"{record.name}: {message}", message)
    error = record.exc_info[1]
    malformed_http = isinstance(error, (HttpProcessingError, web.RequestPayloadError))
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if f.filename.startswith(str(PROJECT_ROOT)) and "site-packages" not in f.filename]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    place = f"{Path(where.filename).name}:{where.lineno} ({where.name})" if where else record.name
    return LoggedError(f"{type(error).__name__} in {place}", f"{message}: {type(error).__name__}: {str(error)[:200]}", malformed_http)


def request_bytes(case: HttpCase, host: bytes) -> bytes:
    lines = [case.method + b" " + case.target + b" HTTP/1.1", b"Host: " + (host if case.host is None else case.host),
             b"Connection: close"]
    if case.body or case.method in (b"POST", b"PUT", b"PATCH"):
        lines.append(b"Content-Length: %d" % len(case.body))
    lines += [name + b": " + value for name, value in case.headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + case.body


class Probe:
    """Sends one case to a served app and says whether the server held up."""

    def __init__(self, served: ServedApp):
        self.served = served
        self.errors = ErrorLog()
        self.loop = asyncio.new_event_loop()
        self._session: Optional[aiohttp.ClientSession] = None
        self._root_level = logging.NOTSET

    def __enter__(self) -> "Probe":
        root = logging.getLogger()
        self._root_level = root.level
        if root.level > logging.ERROR:
            root.setLevel(logging.ERROR)
        root.addHandler(self.errors)
        return self

    def __exit__(self, *exc_info) -> None:
        root = logging.getLogger()
        root.removeHandler(self.errors)
        root.setLevel(self._root_level)
        if self._session is not None:
            self.loop.run_until_complete(self._session.close())
        self.loop.close()

    def run(self, case: Case) -> CaseResult:
        mark = self.errors.mark()
        if isinstance(case, HttpCase):
            result = self.loop.run_until_complete(self._http(self._with_session(case)))
        else:
            result = self.loop.run_until_complete(self._socket(self._with_session(case)))
        try:
            settled = self.served.call(self.served.settle(), timeout=CASE_TIMEOUT + 5)
        except concurrent.futures.TimeoutError:
            settled = False
        if not settled:
            result.crash("the server still held a connection or an update after the case")
        answered_5xx = [s for s in result.statuses if s >= 500]
        result.logged = [e for e in self.errors.since(mark) if answered_5xx or not e.malformed_http]
        if answered_5xx:
            cause = result.logged[0] if result.logged else LoggedError(f"HTTP {answered_5xx[0]} without a logged error", "")
            result.failures.insert(0, Failure("5xx", cause.signature, f"HTTP {answered_5xx[0]}; {cause.detail}"))
        elif result.logged:
            for entry in result.logged:
                result.crash(entry.signature, entry.detail)
        else:
            result.failures += result.symptoms
        return result

    def _with_session(self, case: Case) -> Case:
        """The marker of a valid console session, replaced by a session minted for this case alone."""
        if isinstance(case, HttpCase) and any(SESSION_MARK.encode() in v for _, v in case.headers):
            token = self.served.fresh_session().encode()
            return HttpCase(case.method, case.target, tuple((n, v.replace(SESSION_MARK.encode(), token)) for n, v in case.headers),
                            case.body, case.host)
        if isinstance(case, SocketCase) and any(SESSION_MARK in v for _, v in case.headers):
            token = self.served.fresh_session()
            return SocketCase(case.path, tuple((n, v.replace(SESSION_MARK, token)) for n, v in case.headers), case.frames, case.kind)
        return case

    async def _http(self, case: HttpCase) -> CaseResult:
        result = CaseResult()
        answer = b""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.served.port), CASE_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as refused:
            result.crash("the server refused the connection", repr(refused))
            return result
        try:
            writer.write(request_bytes(case, self.served.host.encode()))
            try:
                await writer.drain()
            except ConnectionError:
                pass  # it may answer (413, 400) before it has read the whole request
            deadline = time.monotonic() + CASE_TIMEOUT
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.monotonic()))
                if not chunk:
                    break
                answer += chunk
        except asyncio.TimeoutError:
            result.crash("no answer within the time limit", f"after {CASE_TIMEOUT:.0f} s; got {answer[:80]!r}")
        except ConnectionError as reset:
            if not answer.startswith(b"HTTP/"):
                result.crash("the server reset the connection without an answer", repr(reset))
        finally:
            writer.close()
        status_line = answer.split(b"\r\n", 1)[0].split(b" ")
        if len(status_line) >= 2 and status_line[0].startswith(b"HTTP/") and status_line[1].isdigit():
            result.statuses.append(int(status_line[1]))
        elif not result.failures:
            result.crash("the server closed the connection without an answer", repr(answer[:80]))
        return result

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                                  connector=aiohttp.TCPConnector(force_close=True),
                                                  timeout=aiohttp.ClientTimeout(total=CASE_TIMEOUT))
        return self._session

    async def _socket(self, case: SocketCase) -> CaseResult:
        result = CaseResult()
        client = await self._client()
        url = yarl.URL(f"http://{self.served.host}{case.path}", encoded=True)
        try:
            socket = await client.ws_connect(url, headers=list(case.headers), max_msg_size=0, timeout=CASE_TIMEOUT,
                                             autoclose=True, autoping=case.kind == "webchat")
        except aiohttp.WSServerHandshakeError as refused:
            result.statuses.append(refused.status)
            return result
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as failure:
            result.crash("the socket handshake got no answer", repr(failure))
            return result
        result.statuses.append(101)
        oversized = any(len(f.data if f.binary else f.data.encode()) > MAX_SOCKET_BYTES for f in case.frames)
        try:
            session = await self._send_frames(socket, case, result)
            if case.kind == "webchat" and not socket.closed:
                await self._webchat_answers(socket, session, result)
            elif not socket.closed:
                await self._answers_until_pong(socket, result)
        except (ConnectionError, RuntimeError):
            pass  # the server closed the socket: its close code says whether that was right
        except asyncio.TimeoutError:
            result.crash("the socket stopped answering", f"after {CASE_TIMEOUT:.0f} s")
        try:
            await asyncio.wait_for(socket.close(), CASE_TIMEOUT)
        except asyncio.TimeoutError:
            result.crash("the socket did not close", f"within {CASE_TIMEOUT:.0f} s")
        # after a frame past the limit the server closes with 1009, and frames sent meanwhile may meet a reset
        expected = {1000, 1006, 1009} if oversized else {1000}
        if socket.close_code not in expected and not result.failures:
            result.symptom(f"the socket closed with code {socket.close_code}")
        return result

    async def _send_frames(self, socket, case: SocketCase, result: CaseResult) -> Optional[Tuple[str, int]]:
        """Send the frames; for the web chat, the session the server took and how many hellos it queued."""
        session: Optional[str] = None
        hellos = 0
        for frame in case.frames:
            if socket.closed:
                break
            if frame.binary:
                await socket.send_bytes(frame.data)
            else:
                await socket.send_str(frame.data)
            result.frames_sent += 1
            if case.kind == "webchat" and not frame.binary:
                try:
                    parsed = parse_frame(frame.data)
                except (FrameError, RecursionError):
                    continue
                if parsed["type"] == "hello" and session in (None, parsed["session"]):
                    session, hellos = parsed["session"], hellos + 1
        return (session, hellos) if session else None

    async def _answers_until_pong(self, socket, result: CaseResult) -> None:
        """Read the answers up to the pong of a ping sent last: the server reads the ping, and answers it, only
        after it has handled every frame before it."""
        await socket.ping(b"fuzz-sync")
        deadline = time.monotonic() + CASE_TIMEOUT
        while True:
            message = await socket.receive(timeout=max(0.01, deadline - time.monotonic()))
            if message.type == WSMsgType.PONG and message.data == b"fuzz-sync":
                return
            if message.type == WSMsgType.PING:
                await socket.pong(message.data)
            elif message.type != WSMsgType.TEXT:
                return
            elif json.loads(message.data).get("type") == "error":
                result.error_frames += 1

    async def _webchat_answers(self, socket, session: Optional[Tuple[str, int]], result: CaseResult) -> None:
        """Read the web chat's answers until it has done all it was asked: with a session, one more hello, whose
        history comes after every queued job; without one, an unknown frame, whose error comes after the rest."""
        if session:
            await socket.send_str(json.dumps({"type": "hello", "session": session[0]}))
            histories_due = session[1] + 1
        else:
            await socket.send_str(json.dumps({"type": "fuzz-sync"}))
            histories_due = 0
        histories = 0
        deadline = time.monotonic() + CASE_TIMEOUT
        while True:
            message = await socket.receive(timeout=max(0.01, deadline - time.monotonic()))
            if message.type != WSMsgType.TEXT:
                return
            frame = json.loads(message.data)
            if frame.get("type") == "error":
                if not session and "fuzz-sync" in frame.get("error", ""):
                    return
                result.error_frames += 1
                if frame.get("code") == "server_error":
                    result.symptom("the web chat answered server_error", frame.get("error", ""))
                    histories += 1  # the failed job is done, too
            elif frame.get("type") == "history":
                histories += 1
            if session and histories >= histories_due:
                return


# --- the strategies -----------------------------------------------------------------------------------------

def weighted(*options: Tuple[int, SearchStrategy]) -> SearchStrategy:
    """One of the strategies by weight; a failing case shrinks towards the first."""
    table = [strategy for weight, strategy in options for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


WORDS = ["hello", "I want to talk to a human", "how do I get a refund?", "refund options", "thanks", "5", "⭐⭐⭐⭐",
         "/restart", '/faq{"faq_id":"entry-1"}', "4111 1111 1111 1111", "Tere!", "Здравствуйте", "   ", ""]
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
CONTROLS = st.characters(max_codepoint=0x1F)
ODD_CHARACTERS = "\u202e\u200b\ufeff\u0301\u00a0😀👍🏽\x00\x7f\ud800\udfff"
LENGTHS = (199, 200, 201, 3999, 4000, 4001, 16 * 1024 + 1, 40_000)
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD", b"TRACE", b"FUZZ", b"get"]
CONTENT_TYPES = [b"application/json", b"application/json; charset=utf-8", b"text/plain", b"application/x-www-form-urlencoded",
                 b"multipart/form-data; boundary=x", b"application/json; charset=latin-1", b"application/json; charset=utf-16",
                 b"application/json; charset=no-such-charset", b'application/json; charset="utf-8"', b"*/*", b"application/jsonx"]
HEADER_NAMES = [b"Origin", b"Cookie", b"Accept", b"User-Agent", b"Referer", b"X-Forwarded-For", b"Sec-Fetch-Site",
                b"Accept-Language", b"Content-Encoding", b"Authorization", b"Content-Type", b"X-Telegram-Bot-Api-Secret-Token"]
ODD_HEADER_VALUES = [b"gzip", b"deflate", b"br", b"null", b"http://[", b"http://[::1", b"\xff\xfe", b"a=b; c", b"=", b""]


def texts() -> SearchStrategy[str]:
    return weighted(
        (4, st.sampled_from(WORDS)),
        (3, st.text(max_size=60)),
        (1, st.text(CONTROLS, max_size=20)),
        (1, st.text(st.one_of(st.characters(), SURROGATES), min_size=1, max_size=20)),
        (1, st.tuples(st.sampled_from(LENGTHS), st.sampled_from("xé😀\x00 ")).map(lambda p: p[1] * p[0])),
        (1, st.text(st.sampled_from(ODD_CHARACTERS), max_size=12)),
    )


def json_values() -> SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(2**63 - 1, 2**80), st.floats(), texts())
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                        max_leaves=10)


def dump(value: Any, ascii_only: bool = True) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


def json_objects(fields: Dict[str, SearchStrategy], required: Sequence[str] = ()) -> SearchStrategy[str]:
    """JSON objects with `fields` (each now and then of a wrong type): mostly with the required ones, else with any."""
    values = {name: weighted((8, strategy), (1, json_values())) for name, strategy in fields.items()}
    complete = st.fixed_dictionaries({k: values[k] for k in required}, optional={k: v for k, v in values.items() if k not in required})
    anything = st.fixed_dictionaries({}, optional={**values, "extra": json_values()})
    return st.tuples(weighted((5, complete), (1, anything)), st.booleans()).map(lambda p: dump(p[0], p[1]))


def as_body(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def hostile_bodies() -> SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        st.integers(1, 30_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(1, 10_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.integers(4_000, 20_000).map(lambda n: b'{"sender": "fuzz-0", "message": ' + b"9" * n + b"}"),
        st.sampled_from([
            b"", b"null", b"[]", b"{}", b"true", b"NaN", b"-Infinity", b'"text"', b"{", b'{"sender":',
            b'\xef\xbb\xbf{"sender": "fuzz-0", "message": "hi"}', b'{"sender": "\xff\xfe", "message": "hi"}',
            b'{"sender": "fuzz-0", "message": "\\ud800"}', '{"sender": "fuzz-0", "message": "hi"}'.encode("utf-16"),
            b'{"sender": "fuzz-0", "sender": 1, "message": "hi"}', b"sender=fuzz-0&message=hi", b"\x00" * 64,
        ]),
        json_values().map(lambda v: as_body(dump(v))),
    )


def without_line_breaks(value: bytes) -> bytes:
    return value.replace(b"\r", b"").replace(b"\n", b"")


def header_values() -> SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=40).map(without_line_breaks),
                     st.text(max_size=40).map(lambda t: without_line_breaks(t.encode("utf-8"))),
                     st.sampled_from(ODD_HEADER_VALUES))


def extra_headers() -> SearchStrategy[List[Tuple[bytes, bytes]]]:
    names = st.one_of(st.sampled_from(HEADER_NAMES), st.from_regex(rb"\A[A-Za-z0-9-]{1,20}\Z"))
    return weighted((3, st.just([])), (2, st.lists(st.tuples(names, header_values()), max_size=3)))


def content_types() -> SearchStrategy[List[Tuple[bytes, bytes]]]:
    return weighted((6, st.just([(b"Content-Type", b"application/json")])),
                    (3, st.sampled_from(CONTENT_TYPES).map(lambda c: [(b"Content-Type", c)])),
                    (1, st.just([])), (1, header_values().map(lambda v: [(b"Content-Type", v)])))


def headers(*parts: SearchStrategy[List[Tuple[bytes, bytes]]]) -> SearchStrategy[Tuple[Tuple[bytes, bytes], ...]]:
    return st.tuples(*parts, extra_headers()).map(lambda lists: tuple(h for hs in lists for h in hs))


def url_part(text: str, raw: bool) -> bytes:
    """A path segment or query value: percent-encoded, or raw (only what would break the request line goes)."""
    encoded = text.encode("utf-8", "surrogatepass")
    if raw:
        return encoded.replace(b" ", b"").replace(b"\r", b"").replace(b"\n", b"")
    return quote(encoded, safe="").encode()


def query_strings(values: Dict[str, SearchStrategy[str]]) -> SearchStrategy[bytes]:
    names = weighted((6, st.sampled_from(list(values))), (1, texts()))
    pair = names.flatmap(lambda name: st.tuples(st.just(name), values.get(name, texts()), st.booleans()))
    return st.lists(pair, max_size=4).map(
        lambda pairs: (b"?" + b"&".join(url_part(n, raw) + b"=" + url_part(v, raw) for n, v, raw in pairs)) if pairs else b"")


def odd_paths(prefix: bytes) -> SearchStrategy[bytes]:
    return st.one_of(
        st.tuples(texts(), st.booleans()).map(lambda p: prefix + url_part(p[0], p[1])),
        st.sampled_from([prefix + b"../../pyproject.toml", prefix + b"%2e%2e/%2e%2e/pyproject.toml", b"//" + prefix.lstrip(b"/"),
                         prefix + b"%00", prefix + b"a/b/c/d", prefix.rstrip(b"/"), prefix + b"?" + b"x" * 3000, b"*"]),
    )


def http_cases(method: SearchStrategy[bytes], target: SearchStrategy[bytes], head: SearchStrategy, body: SearchStrategy[bytes],
               host: SearchStrategy[Optional[bytes]] = st.none()) -> SearchStrategy[HttpCase]:
    return st.builds(HttpCase, method=method, target=target, headers=head, body=body, host=host)


def odd_hosts() -> SearchStrategy[Optional[bytes]]:
    return weighted((12, st.none()), (1, st.sampled_from([b"", b"evil.example", b"[::1", b"127.0.0.1:0", b"\xff"])), (1, header_values()))


def rest_cases(gateway: FuzzedGateway) -> SearchStrategy[HttpCase]:
    bearer = f"Bearer {gateway.rest_token}".encode()
    auth = weighted((8, st.just([(b"Authorization", bearer)])), (1, st.just([])),
                    (1, st.sampled_from([b"Bearer ", bearer.lower(), bearer + b" ", bearer + b"\xff", b"Bearer wrong", bearer[:-1]])
                     .map(lambda v: [(b"Authorization", v)])),
                    (1, header_values().map(lambda v: [(b"Authorization", v)])))
    senders = weighted((6, st.sampled_from(REST_SENDERS)), (2, texts()))
    metadata = weighted((3, st.none()), (2, st.dictionaries(st.text(max_size=10), json_values(), max_size=3)), (1, json_values()))
    message_ids = weighted((3, st.none()), (2, st.uuids().map(str)), (1, st.sampled_from(["retry-1", "retry-1", "retry-2"])), (1, texts()))
    message_body = json_objects({"sender": senders, "message": texts(), "metadata": metadata, "message_id": message_ids},
                                required=("sender", "message"))
    bodies = weighted((5, message_body.map(as_body)), (1, hostile_bodies()))
    after = weighted((3, st.integers(-5, 500).map(str)),
                     (1, st.sampled_from(["", "x", "1.5", "9" * 30, "-" + "9" * 30, "١٢", "0x10", " 1", "1_0"])),
                     (1, texts()))
    return weighted(
        (6, http_cases(st.just(b"POST"), st.just(b"/webhooks/rest/webhook"), headers(auth, content_types()), bodies, odd_hosts())),
        (2, http_cases(st.just(b"GET"), query_strings({"sender": senders, "after": after}).map(lambda q: b"/webhooks/rest/messages" + q),
                       headers(auth), st.just(b""))),
        (2, http_cases(st.just(b"POST"), st.just(b"/webhooks/rest/typing"), headers(auth, content_types()),
                       weighted((4, json_objects({"sender": senders}, required=("sender",)).map(as_body)), (1, hostile_bodies())))),
        (1, http_cases(st.sampled_from(METHODS), st.sampled_from([b"/webhooks/rest/", b"/webhooks/rest/webhook", b"/webhooks/rest/messages",
                                                                  b"/webhooks/rest/typing", b"/health"]) | odd_paths(b"/webhooks/rest/"),
                       headers(auth, content_types()), weighted((2, st.just(b"")), (1, hostile_bodies())), odd_hosts())),
    )


def webchat_cases(gateway: FuzzedGateway) -> SearchStrategy[Case]:
    sessions = weighted((6, st.sampled_from(WEBCHAT_SESSIONS)), (1, texts()))
    good_hello = st.sampled_from(WEBCHAT_SESSIONS).map(lambda s: dump({"type": "hello", "session": s}))
    hello = json_objects({"type": st.just("hello"), "session": sessions}, required=("type", "session"))
    message = json_objects({"type": st.just("message"), "text": texts(), "display": weighted((3, st.none()), (2, texts())),
                            "payload": weighted((3, st.none()), (1, st.dictionaries(st.text(max_size=8), json_values(), max_size=3)))},
                           required=("type", "text"))
    message_ids = weighted((4, st.integers(0, 199).map(partial(gateway.bot_message, "webchat"))), (1, st.integers()))
    feedback = json_objects({"type": st.just("feedback"), "message_id": message_ids, "helpful": st.booleans()},
                            required=("type", "message_id", "helpful"))
    typing = json_objects({"type": st.just("typing")}, required=("type",))
    earlier = json_objects({"type": st.just("history"), "before": message_ids}, required=("type", "before"))
    other = json_objects({"type": weighted((2, texts()), (1, json_values()))})
    junk = st.one_of(st.text(max_size=80), json_values().map(dump),
                     hostile_bodies().map(lambda b: b.decode("utf-8", "replace")))
    oversized = st.sampled_from([16 * 1024 + 1, 60_000, 70_000]).map(lambda n: dump({"type": "message", "text": "x" * n}))
    text_frames = weighted((4, message), (2, hello), (2, feedback), (1, typing), (1, earlier), (1, other), (2, junk), (1, oversized))
    frame = weighted((10, text_frames.map(lambda t: Frame(t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")))),
                     (1, st.binary(max_size=100).map(Frame)))
    frames = weighted((4, st.tuples(good_hello.map(Frame), st.lists(frame, max_size=6)).map(lambda p: (p[0], *p[1]))),
                      (1, st.lists(frame, min_size=1, max_size=6).map(tuple)))
    origin = weighted((5, st.just([("Origin", gateway.own_origin)])), (2, st.just([("Origin", WEBCHAT_ORIGIN)])), (1, st.just([])),
                      (1, st.sampled_from(["https://evil.example", "null", "http://[", WEBCHAT_ORIGIN + "/", WEBCHAT_ORIGIN.upper()])
                       .map(lambda o: [("Origin", o)])),
                      (1, st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30).map(lambda o: [("Origin", o)])))
    sockets = st.builds(SocketCase, path=query_strings({"v": texts()}).map(lambda q: "/webchat/socket" + q.decode("utf-8", "replace")),
                        headers=origin.map(tuple), frames=frames, kind=st.just("webchat"))
    names = weighted((3, st.sampled_from([b"widget.js", b"widget.css", b"demo.js", b"demo.html", b"socket", b"nothing.js"])),
                     (1, odd_paths(b"")))
    pages = http_cases(weighted((4, st.just(b"GET")), (1, st.sampled_from(METHODS))),
                       weighted((4, names.map(lambda n: b"/webchat/" + n)),
                                (1, st.sampled_from([b"/", b"/webchat/demo", b"/webchat/", b"/webchat"]))),
                       headers(origin.map(lambda hs: [(n.encode(), v.encode()) for n, v in hs])),
                       weighted((4, st.just(b"")), (1, hostile_bodies())))
    return weighted((8, sockets), (2, pages))


def telegram_cases(gateway: FuzzedGateway) -> SearchStrategy[HttpCase]:
    def or_wrong_type(strategy: SearchStrategy) -> SearchStrategy:
        return weighted((12, strategy), (1, json_values()))

    ids = or_wrong_type(weighted((6, st.sampled_from(TELEGRAM_CHATS)), (1, st.integers()), (1, st.sampled_from([0, -1, 2**63, 10**30]))))
    user = st.fixed_dictionaries(
        {"id": ids, "is_bot": st.booleans(), "first_name": or_wrong_type(texts())},
        optional={"language_code": or_wrong_type(weighted((3, st.sampled_from(["et", "ru", "en", "en-US", "", "xx-YY"])), (1, texts()))),
                  "username": texts(), "last_name": texts()})
    chat_types = weighted((6, st.just("private")), (1, st.sampled_from(["group", "supergroup", "channel", "x"])))
    chat = st.fixed_dictionaries({"id": ids, "type": chat_types},
                                 optional={"first_name": texts()})
    commands = st.sampled_from(["/start", "/start@laine_fuzz_bot", "/", "/help me", "/START", "/rate 5", "/@"])
    text = or_wrong_type(weighted((4, texts()), (1, commands)))
    entity = st.fixed_dictionaries({"type": st.sampled_from(["bot_command", "bold", "url", "x"]), "offset": st.integers(-5, 50),
                                    "length": st.integers(-5, 50)})
    content = st.fixed_dictionaries({}, optional={
        "text": text, "caption": or_wrong_type(texts()), "entities": st.lists(entity, max_size=2),
        "sticker": st.just({"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1, "is_animated": False,
                            "is_video": False, "type": "regular"}),
        "photo": st.just([{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]),
        "location": st.fixed_dictionaries({"latitude": st.floats(), "longitude": st.floats()}),
        "reply_markup": json_values()})
    message = st.tuples(st.fixed_dictionaries({"message_id": st.integers(1, 10**9), "date": st.integers(0, 2**31), "chat": chat},
                                              optional={"from": user}), content).map(lambda p: {**p[0], **p[1]})
    bot_message = st.integers(0, 199).map(partial(gateway.bot_message, "telegram"))
    callback_data = weighted(
        (3, st.tuples(bot_message, st.integers(0, 3)).map(lambda p: f"b:{p[0]}:{p[1]}")),
        (2, st.tuples(bot_message, st.integers(0, 2)).map(lambda p: f"f:{p[0]}:{p[1]}")),
        (1, texts()),
        (1, st.sampled_from(["b:" + "9" * 18 + ":0", "b:" + "9" * 19 + ":0", "f:1:2", "b:1:999", "b:-1:0", "b::", ""])),
        (1, json_values()))
    callback = st.fixed_dictionaries({"id": st.text(min_size=1, max_size=12), "from": user, "chat_instance": st.just("fuzz")},
                                     optional={"data": callback_data, "message": message})
    content_of_update = weighted(
        (5, st.tuples(st.just("message"), message)), (1, st.tuples(st.just("edited_message"), message)),
        (3, st.tuples(st.just("callback_query"), callback)),
        (1, st.tuples(st.sampled_from(["message", "callback_query", "channel_post", "inline_query", "poll", "x"]), json_values())))
    update_ids = weighted((8, st.integers(1, 2**31)), (1, st.sampled_from([0, -1, True, 2**64, 1.5, "1", None])))
    updates = st.tuples(update_ids, content_of_update, st.booleans()).map(lambda p: dump({"update_id": p[0], p[1][0]: p[1][1]}, p[2]))
    secret = gateway.telegram_secret.encode()
    secrets_sent = weighted((8, st.just([(b"X-Telegram-Bot-Api-Secret-Token", secret)])), (1, st.just([])),
                            (1, st.sampled_from([b"", b"wrong", secret + b"x", secret[:-1], b"\xff" + secret, secret.upper()])
                             .map(lambda v: [(b"X-Telegram-Bot-Api-Secret-Token", v)])))
    return weighted(
        (8, http_cases(st.just(b"POST"), st.just(b"/webhooks/telegram"), headers(secrets_sent, content_types()),
                       weighted((6, updates.map(as_body)), (1, hostile_bodies())))),
        (1, http_cases(st.sampled_from(METHODS), st.just(b"/webhooks/telegram") | odd_paths(b"/webhooks/telegram/"),
                       headers(secrets_sent), weighted((2, st.just(b"")), (1, hostile_bodies())))),
    )


def console_cases(gateway: FuzzedGateway) -> SearchStrategy[Case]:
    cookie = weighted((8, st.just([(b"Cookie", f"supportbot_agent={SESSION_MARK}".encode())])), (1, st.just([])),
                      (1, st.sampled_from([b"supportbot_agent=", b"supportbot_agent=x", b"supportbot_agent=" + b"A" * 5000,
                                           f"a=1; supportbot_agent={SESSION_MARK}; b".encode(), b"supportbot_agent=\xff", b";;;="])
                       .map(lambda v: [(b"Cookie", v)])),
                      (1, header_values().map(lambda v: [(b"Cookie", v)])))
    own = gateway.own_origin.encode()
    origin = weighted((10, st.just([])), (1, st.just([(b"Origin", own)])),
                      (1, st.sampled_from([b"https://evil.example", b"null", b"http://[", b"http://[::1", b"\xff", b"", own + b"/x"])
                       .map(lambda v: [(b"Origin", v)])),
                      (1, st.sampled_from([b"same-origin", b"cross-site", b"none", b"same-site", b"\xff"])
                       .map(lambda v: [(b"Sec-Fetch-Site", v)])))
    conversation = weighted((8, st.integers(0, 60).map(lambda i: str(gateway.conversation(i)))),
                            (1, st.sampled_from(["0", "-1", "9" * 20, "9" * 5000, "1e3", "١", " 1", "+1", "1_0", "abc", "%00",
                                                 "1%2F2", "..", "%ff"])),
                            (1, texts()))
    text_body = json_objects({"text": texts()}, required=("text",))
    close_body = json_objects({"resolution": weighted((3, texts()), (1, st.none())), "tell_customer": st.booleans()})
    login_body = json_objects({"username": weighted((2, st.just(AGENT[0])), (2, texts())),
                               "password": weighted((1, st.just(gateway.agent_password)), (3, texts()))}, required=("username", "password"))

    def body(good: SearchStrategy[str]) -> SearchStrategy[bytes]:
        return weighted((6, good.map(as_body)), (1, hostile_bodies()), (1, st.just(b"")))

    def on_conversation(method: bytes, tail: str, good: SearchStrategy[str]) -> SearchStrategy[HttpCase]:
        target = st.tuples(conversation, st.booleans()).map(
            lambda p: b"/console/api/conversations/" + url_part(p[0], p[1]) + tail.encode())
        return http_cases(st.just(method), target, headers(cookie, origin, content_types()), body(good))

    no_body = st.just("")
    ids = weighted((4, st.integers(0, 30).map(str)), (1, st.sampled_from(["0", "-1", "9" * 20, "1e3", "١", "abc", "%00", "²"])), (1, texts()))
    page = query_strings({"before": ids, "limit": ids})
    new_agent = json_objects({"username": texts(), "display_name": texts(),
                              "password": weighted((2, st.just("long enough password")), (1, texts())),
                              "role": weighted((2, st.sampled_from(["agent", "admin"])), (1, texts()))}, required=("username", "password"))

    def on_id(method: bytes, prefix: str, tail: str, good: SearchStrategy[str]) -> SearchStrategy[HttpCase]:
        target = st.tuples(ids, st.booleans()).map(lambda p: prefix.encode() + url_part(p[0], p[1]) + tail.encode())
        return http_cases(st.just(method), target, headers(cookie, origin, content_types()), body(good))

    canned = query_strings({"q": texts(), "language": weighted((3, st.sampled_from(["en", "et", "ru"])), (1, texts()))})
    frames = weighted(
        (4, json_objects({"type": st.just("typing"),
                          "conversation_id": weighted((4, st.integers(0, 60).map(gateway.conversation)), (1, texts()))},
                         required=("type", "conversation_id")).map(Frame)),
        (2, st.one_of(st.text(max_size=60), json_values().map(dump),
                      hostile_bodies().map(lambda b: b.decode("utf-8", "replace"))).map(Frame)),
        (1, st.binary(max_size=60).map(Frame)))
    live = st.builds(SocketCase, path=query_strings({"x": texts()}).map(lambda q: "/console/api/live" + q.decode("utf-8", "replace")),
                     headers=st.tuples(cookie, origin).map(lambda p: tuple((n.decode(), v.decode("latin-1")) for n, v in p[0] + p[1])),
                     frames=st.lists(frames, max_size=6).map(tuple), kind=st.just("console"))
    return weighted(
        (2, http_cases(st.just(b"POST"), st.just(b"/console/api/login"), headers(origin, content_types()), body(login_body))),
        (1, http_cases(st.just(b"POST"), st.just(b"/console/api/logout"), headers(cookie, origin, content_types()), body(no_body))),
        (2, http_cases(st.just(b"GET"), st.sampled_from([b"/console/api/me", b"/console/api/queue", b"/console/api/stats"]),
                       headers(cookie, origin), st.just(b""))),
        (2, on_conversation(b"GET", "", no_body)),
        (1, st.tuples(on_conversation(b"GET", "/messages", no_body), page).map(
            lambda p: HttpCase(p[0].method, p[0].target + p[1], p[0].headers, b"", p[0].host))),
        (2, on_conversation(b"POST", "/claim", no_body)),
        (3, on_conversation(b"POST", "/messages", text_body)),
        (2, on_conversation(b"POST", "/notes", text_body)),
        (1, on_conversation(b"POST", "/typing", no_body)),
        (1, on_conversation(b"POST", "/return", no_body)),
        (2, on_conversation(b"POST", "/close", close_body)),
        (1, http_cases(st.just(b"GET"), st.sampled_from([b"/console/api/agents", b"/console/api/undelivered"]),
                       headers(cookie, origin), st.just(b""))),
        (1, http_cases(st.just(b"POST"), st.just(b"/console/api/agents"), headers(cookie, origin, content_types()), body(new_agent))),
        (1, on_id(b"POST", "/console/api/agents/", "/deactivate", no_body)),
        (1, on_id(b"POST", "/console/api/agents/", "/activate", no_body)),
        (1, on_id(b"POST", "/console/api/undelivered/", "/dismiss", no_body)),
        (1, http_cases(st.just(b"GET"), canned.map(lambda q: b"/console/api/canned" + q), headers(cookie, origin), st.just(b""))),
        (2, live),
        (1, http_cases(st.sampled_from(METHODS), st.sampled_from([b"/console", b"/console/", b"/console/static/console.js"])
                       | odd_paths(b"/console/static/") | odd_paths(b"/console/api/"),
                       headers(cookie, origin, content_types()), weighted((3, st.just(b"")), (1, hostile_bodies())))),
    )


@dataclass(frozen=True)
class Target:
    name: str
    title: str
    cases: Callable[[Any], SearchStrategy[Case]]  # given the served app


TARGETS = [
    Target("rest", "REST channel (`/webhooks/rest/*`)", rest_cases),
    Target("webchat", "web chat socket frames and files (`/webchat/*`)", webchat_cases),
    Target("telegram", "Telegram webhook (`/webhooks/telegram`)", telegram_cases),
    Target("console", "agent console API and live socket (`/console/*`)", console_cases),
]


# --- running ------------------------------------------------------------------------------------------------

@dataclass
class FailureGroup:
    kind: str
    detail: str
    example: str
    count: int = 0  # 0: found while another failure was being shrunk
    minimal: Optional[str] = None

    @property
    def how_often(self) -> str:
        return f"{self.count}×" if self.count else "found while shrinking"


@dataclass
class TargetResult:
    name: str
    cases: int = 0
    distinct: Set[int] = field(default_factory=set)  # hashes of the cases: hypothesis may draw the same one twice
    statuses: Counter = field(default_factory=Counter)  # by class: "2xx", "3xx", "4xx", "5xx"
    frames_sent: int = 0
    error_frames: int = 0
    crashes: int = 0  # cases with a crash
    failures: Dict[str, FailureGroup] = field(default_factory=dict)
    healthy_after: bool = True

    @property
    def five_xx(self) -> int:
        return self.statuses["5xx"]

    @property
    def failed(self) -> bool:
        return bool(self.failures) or not self.healthy_after

    def add(self, case: Case, outcome: CaseResult) -> None:
        self.cases += 1
        self.distinct.add(hash(case))
        for status in outcome.statuses:
            self.statuses["2xx" if status == 101 else f"{status // 100}xx"] += 1
        self.frames_sent += outcome.frames_sent
        self.error_frames += outcome.error_frames
        self.crashes += any(f.kind == "crash" for f in outcome.failures)
        for failure in outcome.failures:
            group = self.failures.setdefault(failure.signature, FailureGroup(failure.kind, failure.detail, describe(case)))
            group.count += 1

    def problems(self) -> List[str]:
        lines = [f"{self.name}: {g.kind} {signature} ({g.how_often}): {g.detail}\n    e.g. {g.minimal or g.example}"
                 for signature, g in self.failures.items()]
        if not self.healthy_after:
            lines.append(f"{self.name}: the server did not answer /health afterwards")
        return lines


def describe(case: Case) -> str:
    def short(value: Any) -> str:
        text = repr(value)
        return text if len(text) <= 160 else f"{text[:120]}…({len(value)} long)"

    if isinstance(case, HttpCase):
        head = ", ".join(f"{n.decode('latin-1')}: {short(v)}" for n, v in case.headers)
        host = f" Host {short(case.host)}" if case.host is not None else ""
        return f"{case.method.decode('latin-1')} {short(case.target)}{host} [{head}] body {short(case.body)}"
    frames = ", ".join(short(f.data) for f in case.frames)
    return f"socket {short(case.path)} {list(case.headers)} frames [{frames}]"


class FoundFailure(Exception):
    pass


def hypothesis_settings(max_examples: int, phases: Sequence[Phase]) -> settings:
    return settings(max_examples=max_examples, deadline=None, database=None, phases=list(phases), derandomize=False,
                    suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=False)


def fuzz_target(served: ServedApp, probe: Probe, target: Target, cases: int, seed: int = DEFAULT_SEED,
                minimize: int = MINIMIZED_PER_TARGET) -> TargetResult:
    """`cases` generated cases against the target; then up to `minimize` of the failures found, shrunk to a
    minimal example by hypothesis (those replays are not counted as cases)."""
    result = TargetResult(target.name)
    if cases <= 0:
        return result
    strategy = target.cases(served)

    @hypothesis_settings(cases, [Phase.generate])
    @hypothesis_seed(seed)
    @given(strategy)
    def generated(case: Case) -> None:
        result.add(case, probe.run(case))

    generated()
    for attempt in range(minimize):
        if all(group.minimal for group in result.failures.values()):
            break
        shrunk = minimal_failure(probe, strategy, {s for s, g in result.failures.items() if g.minimal}, cases, seed + attempt)
        if shrunk is None:
            break
        failure, example = shrunk
        group = result.failures.setdefault(failure.signature, FailureGroup(failure.kind, failure.detail, example))
        group.minimal = example
    result.healthy_after = healthy(probe)
    return result


def minimal_failure(probe: Probe, strategy: SearchStrategy[Case], known: Set[str], budget: int,
                    seed: int) -> Optional[Tuple[Failure, str]]:
    """A failure whose signature is not in `known`, shrunk by hypothesis: (the failure, the minimal case)."""
    chosen: Dict[str, Any] = {}

    @hypothesis_settings(budget, [Phase.generate, Phase.shrink])
    @hypothesis_seed(seed)
    @given(strategy)
    def failing(case: Case) -> None:
        for failure in probe.run(case).failures:
            if failure.signature in known or chosen.get("failure", failure).signature != failure.signature:
                continue
            chosen.update(failure=failure, case=case)
            raise FoundFailure(failure.signature)

    try:
        failing()
    except Exception:  # FoundFailure, or hypothesis' own report of it; the last failing case is the minimal one
        pass
    return (chosen["failure"], describe(chosen["case"])) if chosen else None


def healthy(probe: Probe) -> bool:
    if not probe.served.alive():
        return False
    outcome = probe.run(HttpCase(b"GET", b"/health"))
    return outcome.statuses == [200] and not outcome.failed


def split_cases(total: int, targets: Sequence[Target]) -> Dict[str, int]:
    share, left = divmod(total, len(targets))
    return {t.name: share + (i < left) for i, t in enumerate(targets)}


@dataclass
class FuzzRun:
    results: List[TargetResult]
    bot_api_calls: Counter  # what the Telegram channel asked of the stand-in Bot API: the updates were handled
    seed: int
    seconds: float


def fuzz(total: int = DEFAULT_CASES, seed: int = DEFAULT_SEED, targets: Sequence[Target] = tuple(TARGETS),
         progress: Callable[[str], None] = lambda line: None) -> FuzzRun:
    results = []
    started = time.perf_counter()
    with FuzzedGateway() as gateway, Probe(gateway) as probe:
        for target in targets:
            cases = split_cases(total, targets)[target.name]
            target_started = time.perf_counter()
            results.append(fuzz_target(gateway, probe, target, cases, seed))
            progress(f"{target.name}: {results[-1].cases} cases in {time.perf_counter() - target_started:.0f} s, "
                     f"{'FAILED' if results[-1].failed else 'no 5xx, no crash'}")
        calls = Counter(gateway.bot_api.calls)
    return FuzzRun(results, calls, seed, time.perf_counter() - started)


# --- the report ---------------------------------------------------------------------------------------------

def report_body(run: FuzzRun) -> str:
    results = run.results
    total = sum(r.cases for r in results)
    five_xx = sum(r.five_xx for r in results)
    crashes = sum(r.crashes for r in results) + sum(not r.healthy_after for r in results)
    verdict = ("no 5xx response and no crash" if not five_xx and not crashes else
               f"{five_xx} 5xx response{'s' * (five_xx != 1)} and {crashes} crash{'es' * (crashes != 1)}")
    titles = {t.name: t.title for t in TARGETS}
    lines = [f"**{total:,} cases, {verdict}.**", "",
             "| target | cases (distinct) | 2xx (101: socket opened) | 3xx | 4xx | 5xx | crashes | frames sent | error frames back | healthy after |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {titles.get(r.name, r.name)} | {r.cases:,} ({len(r.distinct):,}) | {r.statuses['2xx']:,} | {r.statuses['3xx']:,} | {r.statuses['4xx']:,} | "
                     f"{r.five_xx} | {r.crashes} | {r.frames_sent:,} | {r.error_frames:,} | {'yes' if r.healthy_after else 'NO'} |")
    sent = run.bot_api_calls["sendmessage"]
    lines += ["", HOW_CASES_ARE_MADE.format(seed=run.seed, minutes=run.seconds / 60)
              + (f" The Telegram channel sent {sent:,} messages to the stand-in Bot API while it handled the updates." if sent else "")]
    failing = [(r.name, s, g) for r in results for s, g in r.failures.items()]
    if not failing:
        lines += ["", "No case failed, so there is no minimal failing example to show."]
    else:
        lines += ["", "Failures (minimal example when hypothesis could shrink it):", ""]
        for name, signature, group in failing[:8]:
            lines.append(f"- {name}, {group.kind}, {group.how_often}: `{signature}` ({group.detail[:160]}); example: "
                         f"`{(group.minimal or group.example)[:300]}`")
    return "\n".join(lines)


HOW_CASES_ARE_MADE = (
    "How the cases were made: hypothesis strategies (seed {seed}), driven in process, each case sent over a real "
    "socket to the real gateway app (`build_app`) on 127.0.0.1 with a scratch SQLite database, the Telegram channel "
    "in webhook mode against a local stand-in for the Bot API, and an in-process stand-in for the Rasa server that "
    "answers, offers buttons, hands off, says nothing or fails, depending on the text. Requests are written byte "
    "by byte: well-formed ones and wrong types, missing and extra fields, empty, huge (up to and past the 64 KiB "
    "body limit), unicode, control characters, null bytes, lone surrogates, deeply nested JSON, numbers past "
    "Python's digit limit, invalid UTF-8, odd charsets and content types, odd methods, paths, path parameters and "
    "query strings, and odd `Authorization`, `Origin`, `Sec-Fetch-Site`, cookie, secret-token and Host headers. The "
    "web chat and console sockets get hello, message, feedback and typing frames with bad fields, junk, binary and "
    "oversized frames. A case fails on a 5xx, a connection the server drops or leaves unanswered, a socket closed "
    "abnormally, a `server_error` frame, or any exception logged with a traceback while it runs (not aiohttp's own "
    "log line for a request its HTTP parser refused with a 4xx); after each target the server must still answer `/health`. "
    "A failing case is shrunk by hypothesis to a minimal one. Whole run {minutes:.1f} min on 2 cores.")


def bench_fuzz(args, report: Dict[str, str]) -> None:
    total = getattr(args, "cases", None) or DEFAULT_CASES
    seed = getattr(args, "seed", None) or DEFAULT_SEED
    root = logging.getLogger()
    muted = [(handler, handler.level) for handler in root.handlers]
    for handler, _ in muted:  # the gateway's own warnings for every refused request would flood the terminal
        handler.setLevel(logging.CRITICAL + 1)
    try:
        run = fuzz(total, seed, progress=lambda line: print(line, flush=True))
    finally:
        for handler, level in muted:
            handler.setLevel(level)
    body = report_body(run)
    print(body)
    for result in run.results:
        for line in result.problems():
            print(line)
    report["fuzz"] = body
