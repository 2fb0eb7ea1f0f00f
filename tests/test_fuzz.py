"""The fuzz suite (supportbot/eval/fuzz.py): every target a little, the fixes it led to, and its checker itself."""
from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from aiohttp import web
from hypothesis import strategies as st

from supportbot.channels.webchat import FrameError, parse_frame
from supportbot.eval.fuzz import (DEFAULT_SEED, SESSION_MARK, TARGETS, Frame, FuzzedGateway, FuzzRun, HttpCase, Probe,
                                  ServedApp, SocketCase, Target, TargetResult, describe, fuzz_target, report_body)

pytestmark = pytest.mark.slow

CASES_PER_TARGET = 150
JSON = (b"Content-Type", b"application/json")
DEEP = b"[" * 5000 + b"]" * 5000
HUGE_ID = b"9" * 25


@pytest.fixture(scope="module")
def fuzzed():
    with FuzzedGateway() as gateway, Probe(gateway) as probe:
        yield gateway, probe


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_no_target_answers_5xx_or_crashes(fuzzed, target):
    gateway, probe = fuzzed
    result = fuzz_target(gateway, probe, target, CASES_PER_TARGET, seed=DEFAULT_SEED)
    assert result.cases == CASES_PER_TARGET
    assert not result.failed, "\n".join(result.problems())
    assert result.statuses["2xx"] and result.statuses["4xx"]  # cases got through to the handlers, and some were refused
    assert result.healthy_after


def with_json(headers) -> tuple:
    """The headers, with a JSON content type unless they name one."""
    return tuple(headers) if any(name == b"Content-Type" for name, _ in headers) else (JSON, *headers)


def rest(gateway, method: bytes, target: bytes, body: bytes = b"", *headers) -> HttpCase:
    return HttpCase(method, target, ((b"Authorization", f"Bearer {gateway.rest_token}".encode()), *with_json(headers)), body)


def telegram(gateway, body: bytes, *headers) -> HttpCase:
    secret = (b"X-Telegram-Bot-Api-Secret-Token", gateway.telegram_secret.encode())
    return HttpCase(b"POST", b"/webhooks/telegram", tuple(headers) or (secret, JSON), body)


def telegram_update(**message) -> bytes:
    chat = {"id": 720001, "type": "private"}
    return json.dumps({"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": chat, "text": "hi", **message}}).encode()


def console(method: bytes, target: bytes, body: bytes = b"", *headers) -> HttpCase:
    return HttpCase(method, target, ((b"Cookie", f"supportbot_agent={SESSION_MARK}".encode()), *with_json(headers)), body)


# each found by the fuzzing as a 500 or a crash; (case, the status it must get now)
REGRESSIONS = {
    "rest: JSON nested too deep": (lambda g: rest(g, b"POST", b"/webhooks/rest/webhook", DEEP), 400),
    "rest: an unknown charset": (lambda g: rest(g, b"POST", b"/webhooks/rest/typing", b'{"sender": "a"}',
                                                (b"Content-Type", b"application/json; charset=no-such")), 400),
    "rest: 'after' past the largest id": (lambda g: rest(g, b"GET", b"/webhooks/rest/messages?sender=a&after=" + HUGE_ID), 400),
    "rest: a token that is not UTF-8": (lambda g: HttpCase(b"POST", b"/webhooks/rest/typing", ((b"Authorization", b"Bearer \xff"),)), 401),
    "telegram: JSON nested too deep": (lambda g: telegram(g, DEEP), 400),
    "telegram: a lone surrogate": (lambda g: telegram(g, telegram_update(text="hi \ud800")), 400),
    "telegram: text that is a number": (lambda g: telegram(g, telegram_update(text=5)), 400),
    "telegram: button data that is a list": (lambda g: telegram(g, json.dumps({"update_id": 2, "callback_query": {
        "id": "1", "from": {"id": 1, "is_bot": False, "first_name": "A"}, "chat_instance": "c", "data": [1]}}).encode()), 400),
    "telegram: a secret that is not UTF-8": (lambda g: telegram(g, b"{}", (b"X-Telegram-Bot-Api-Secret-Token", b"\xff")), 403),
    "console: a conversation id past the largest": (lambda g: console(b"GET", b"/console/api/conversations/" + HUGE_ID), 404),
    "console: an agent id past the largest": (lambda g: console(b"POST", b"/console/api/agents/" + HUGE_ID + b"/deactivate"), 404),
    "console: a dead letter id past the largest": (lambda g: console(b"POST", b"/console/api/undelivered/" + HUGE_ID + b"/dismiss"), 404),
    "console: JSON nested too deep": (lambda g: console(b"POST", b"/console/api/conversations/1/notes", DEEP), 400),
    "console: an unknown charset": (lambda g: console(b"POST", b"/console/api/conversations/1/notes", b'{"text": "x"}',
                                                      (b"Content-Type", b"application/json; charset=no-such")), 400),
    "console: an Origin that is no URL": (lambda g: console(b"POST", b"/console/api/conversations/1/notes", b'{"text": "x"}',
                                                            (b"Origin", b"http://[")), 403),
}


@pytest.mark.parametrize("name", REGRESSIONS)
def test_what_the_fuzzing_found_is_refused_cleanly(fuzzed, name):
    gateway, probe = fuzzed
    make, status = REGRESSIONS[name]
    outcome = probe.run(make(gateway))
    assert outcome.statuses == [status] and not outcome.failed, (outcome.statuses, outcome.failures)


@pytest.mark.parametrize("frame", [
    '{"type": "typing", "conversation_id": 99999999}', '{"type": "typing", "conversation_id": 1e400}',
    '{"type": "typing", "conversation_id": 9999999999999999999999999}', "[" * 5000, "[]"], ids=lambda frame: frame[:60])
def test_the_console_socket_answers_a_bad_frame_with_an_error_frame(fuzzed, frame):
    gateway, probe = fuzzed
    outcome = probe.run(SocketCase("/console/api/live", (("Cookie", f"supportbot_agent={SESSION_MARK}"),), (Frame(frame),), "console"))
    assert outcome.statuses == [101] and not outcome.failed, outcome.failures


@pytest.mark.parametrize("frame", [
    "[" * 5000, '{"type": "message", "text": "hi \\ud800"}', '{"type": "message", "text": "hi", "display": "\\udfff"}',
    '{"type": "feedback", "message_id": 9223372036854775808, "helpful": true}', '{"type": "history", "before": 9223372036854775808}'],
    ids=lambda frame: frame[:60])
def test_the_web_chat_refuses_a_frame_it_cannot_store(fuzzed, frame):
    with pytest.raises(FrameError):
        parse_frame(frame)
    gateway, probe = fuzzed
    hello = Frame('{"type": "hello", "session": "regression-session"}')
    outcome = probe.run(SocketCase("/webchat/socket", (("Origin", gateway.own_origin),), (hello, Frame(frame)), "webchat"))
    assert outcome.statuses == [101] and outcome.error_frames == 1 and not outcome.failed, outcome.failures


# --- the checker itself: a broken app is caught -------------------------------------------------------------

def broken_app() -> web.Application:
    async def raises(request: web.Request) -> web.Response:
        raise RuntimeError("broken on purpose")

    async def picky(request: web.Request) -> web.Response:
        if b"7" in await request.read():
            raise RuntimeError("no sevens")
        return web.json_response({})

    async def hangs_up(request: web.Request) -> web.Response:
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.json_response({})

    async def socket_raises(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for _ in socket:
            raise RuntimeError("broken socket")
        return socket

    app = web.Application()
    app.router.add_post("/raises", raises)
    app.router.add_post("/picky", picky)
    app.router.add_get("/hangs-up", hangs_up)
    app.router.add_get("/socket", socket_raises)
    app.router.add_get("/health", healthy)
    return app


async def healthy(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture(scope="module")
def broken():
    with ServedApp(broken_app) as served, Probe(served) as probe:
        yield served, probe


def test_a_route_that_raises_is_a_5xx_failure_with_its_cause(broken):
    _, probe = broken
    outcome = probe.run(HttpCase(b"POST", b"/raises", (JSON,), b"{}"))
    assert outcome.statuses == [500] and outcome.failed
    assert outcome.failures[0].kind == "5xx" and outcome.failures[0].signature.startswith("RuntimeError in test_fuzz.py")


def test_a_connection_dropped_without_an_answer_is_a_crash(broken):
    _, probe = broken
    outcome = probe.run(HttpCase(b"GET", b"/hangs-up"))
    assert outcome.statuses == [] and [f.kind for f in outcome.failures] == ["crash"]


def test_a_socket_handler_that_raises_is_a_crash(broken):
    _, probe = broken
    outcome = probe.run(SocketCase("/socket", (), (Frame("hello"),), "console"))
    assert outcome.failed and outcome.failures[0].signature.startswith("RuntimeError in test_fuzz.py")


def test_a_harmless_request_is_no_failure(broken):
    _, probe = broken
    outcome = probe.run(HttpCase(b"POST", b"/picky", (JSON,), b"{}"))
    assert outcome.statuses == [200] and not outcome.failed


def test_fuzzing_finds_a_failure_and_shrinks_it_to_a_minimal_case(broken):
    served, probe = broken
    bodies = Target("picky", "a route that fails on a 7", lambda _: st.binary(min_size=1, max_size=40).map(
        lambda body: HttpCase(b"POST", b"/picky", (JSON,), body)))
    result = fuzz_target(served, probe, bodies, 200, seed=DEFAULT_SEED)
    assert result.failed and result.five_xx > 0
    [group] = result.failures.values()
    assert group.minimal == describe(HttpCase(b"POST", b"/picky", (JSON,), b"7"))
    assert result.cases == 200 and result.healthy_after


def test_the_report_starts_with_the_total_and_the_verdict():
    clean = TargetResult("rest", cases=300, statuses=Counter({"2xx": 100, "4xx": 200}))
    assert report_body(FuzzRun([clean], Counter(), 1, 60.0)).startswith("**300 cases, no 5xx response and no crash.**")
    failing = TargetResult("console", cases=200, statuses=Counter({"2xx": 150, "5xx": 2}), crashes=1)
    assert report_body(FuzzRun([clean, failing], Counter(), 1, 60.0)).startswith("**500 cases, 2 5xx responses and 1 crash.**")
