"""`supportbot eval profile`: where one customer message's time goes, stage by stage, each stage run on its own
in this one process over the same FAQ questions (wall time per message, one after the other, after a warm-up).
With --cprofile the whole Rasa turn is also run under cProfile and its heaviest functions are listed.

The stages: the gateway's own work (the router with its database writes, with a bot that answers at once),
Rasa NLU, the whole Rasa turn (NLU, policies, tracker store, the action server call), the tracker store's
load and save, the action server's HTTP round trip, and inside the action: sentiment and retrieval."""
from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Sequence

import aiohttp
from rasa.core.agent import load_agent
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.trackers import EventVerbosity
from rasa_sdk.executor import ActionExecutor

from bot.actions.knowledge_client import knowledge_client
from bot.server import check_action_replies_with_one_validator, tune_sqlite_tracker_store
from handoff.router import ConversationRouter
from signals.sentiment.detector import sentiment_detector
from handoff.store import HandoffStore
from knowledge.encoders import load_encoder
from protocol.kinds import Kind
from supportbot.endpoints import write_endpoints
from supportbot.action_server import install
from supportbot.eval.data import BENCH_DIR
from supportbot.eval.load import faq_conversations
from supportbot.gateway import business_hours, message_limits
from supportbot.settings import PROJECT_ROOT, Settings
from supportbot.stack import _wait_http, private_settings, scratch_database

ROUNDS = 60


def _timed(stage: Callable[[str], object], texts: Sequence[str]) -> float:
    for text in texts[:3]:
        stage(text)
    timings = []
    for text in texts:
        started = time.perf_counter()
        stage(text)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def profile_stages(base: Settings, cprofile: bool = False) -> Dict[str, float]:
    texts = [t for conversation in faq_conversations(6, 10, seed=7) for t in conversation][:ROUNDS]
    settings = private_settings(base, database_url=scratch_database(BENCH_DIR / "profile.db"), rate_limit="off")
    env = settings.child_environment()
    install(settings)  # the actions' parts in this process, as the action server has them
    figures: Dict[str, float] = {}

    detector, client = sentiment_detector(), knowledge_client()
    figures["sentiment (encoder + classifier)"] = _timed(lambda t: detector.assess(t), texts)
    figures["retrieval and decision (encoder, FAISS, classifier, lexical)"] = _timed(lambda t: client.consult(t), texts)

    encoder = load_encoder(settings.encoder)
    figures["one sentence embedding"] = _timed(lambda t: encoder.encode_queries([t]), texts)

    actions = subprocess.Popen([sys.executable, "-m", "supportbot.action_server", "--port", str(settings.action_port)],
                               cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{settings.action_port}/health", actions, 240, "the action server")
        figures.update(asyncio.run(_rasa_stages(settings, texts, cprofile)))
    finally:
        actions.terminate()
        actions.wait(timeout=30)
    figures.update(asyncio.run(_gateway_stage(settings, texts)))
    return figures


async def _rasa_stages(settings, texts: Sequence[str], cprofile: bool) -> Dict[str, float]:
    check_action_replies_with_one_validator()  # as the live Rasa server (bot/server.py)
    tune_sqlite_tracker_store()
    endpoints = AvailableEndpoints.read_endpoints(str(write_endpoints(settings, PROJECT_ROOT / "var" / "run" / "profile-endpoints.yml")))
    agent = await load_agent(model_path=str(settings.model_path), endpoints=endpoints)
    figures: Dict[str, float] = {}

    async def timed(stage, items) -> float:
        for item in items[:3]:
            await stage(item)
        timings = []
        for item in items:
            started = time.perf_counter()
            await stage(item)
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)

    figures["Rasa NLU (parse)"] = await timed(agent.parse_message, texts)
    turn = iter(range(10 ** 6))
    figures["Rasa turn, all of it (NLU, policies, tracker store, action call)"] = await timed(
        lambda t: agent.handle_text(t, sender_id=f"profile-{next(turn) // 10}"), texts)

    store = agent.tracker_store
    tracker = await store.retrieve("profile-1")
    figures[f"tracker store: load a {len(tracker.events)}-event conversation"] = await timed(lambda _: store.retrieve("profile-1"), texts)
    figures["tracker store: save it (unchanged)"] = await timed(lambda _: store.save(tracker), texts)

    body = {"next_action": "action_answer_faq", "sender_id": "profile-1", "version": "3.6.21",
            "tracker": tracker.current_state(EventVerbosity.ALL), "domain": agent.domain.as_dict()}
    figures["size of one action call's request body (KB)"] = len(json.dumps(body)) / 1024
    # each call gets another text, with the last message's vector kept: the timing of a message whose vector
    # came from Rasa's NLU, as live
    async with aiohttp.ClientSession() as session:
        async def call(text: str) -> None:
            body["tracker"]["latest_message"]["text"] = text
            async with session.post(f"http://127.0.0.1:{settings.action_port}/webhook", json=body) as reply:
                await reply.read()
        figures["action server call (HTTP, tracker and domain in JSON, the action)"] = await timed(call, texts)

    if cprofile:
        profiler = cProfile.Profile()
        profiler.enable()
        for i, text in enumerate(texts):
            await agent.handle_text(text, sender_id=f"cprofile-{i // 10}")
        profiler.disable()
        _print_heaviest("the Rasa turn, in the Rasa server", profiler)
        await _profile_action_server(body, texts)
    return figures


def _print_heaviest(what: str, profiler: cProfile.Profile, rows: int = 40) -> None:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(rows)
    print(f"==> {what}: the heaviest functions\n{out.getvalue()}", flush=True)


async def _profile_action_server(body: dict, texts: Sequence[str]) -> None:
    """The action server's work on one request, in this process: the JSON body, the tracker, the action."""
    executor = ActionExecutor()
    executor.register_package("bot.actions")
    encoded = json.dumps(body)
    profiler = cProfile.Profile()
    profiler.enable()
    for text in texts:
        call = json.loads(encoded)
        call["tracker"]["latest_message"]["text"] = text
        await executor.run(call)
    profiler.disable()
    _print_heaviest("the action server's work on one request", profiler)


async def _gateway_stage(settings, texts: Sequence[str]) -> Dict[str, float]:
    class InstantBot:
        async def send(self, sender_id, text, metadata=None):
            return [{"text": "An answer.", "custom": {"kind": Kind.ANSWER, "faq_id": "x", "language": "en"}}]

        async def close(self):
            pass

    router = ConversationRouter(HandoffStore.open(settings.database_url), InstantBot(), business_hours(settings),
                                limits=message_limits(settings))
    turn = iter(range(10 ** 6))
    timings: List[float] = []
    for text in texts:
        started = time.perf_counter()
        await router.receive("rest", f"profile-{next(turn) // 10}", text)
        timings.append((time.perf_counter() - started) * 1000)
    return {"gateway: the router's own work (ownership, transcript, a reply stored)": statistics.median(timings[3:])}


def main(args) -> int:
    figures = profile_stages(args.settings, cprofile=getattr(args, "cprofile", False))
    print("| stage | median per message |\n|---|---|")
    for stage, value in figures.items():
        unit = "" if "KB" in stage else " ms"
        print(f"| {stage} | {value:.1f}{unit} |")
    return 0
