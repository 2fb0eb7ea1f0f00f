"""`supportbot eval load`: the whole stack under concurrent multi-turn conversations, side by side with the
default bot of `rasa init` (DIET + TED) on the same machine in the same run.

Each simulated customer sends its messages one after the other (the next only after the reply), as people do;
the level is how many customers write at the same time. Our customers ask distinct FAQ questions of the
demo knowledge in one language each (et, ru, en); the `rasa init` customers use that bot's own small talk."""
from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import aiohttp

from knowledge.loader import load_knowledge
from handoff.store import HandoffStore
from protocol.kinds import Kind
from supportbot.eval.data import BENCH_DIR
from supportbot.eval.latency import rasa_init_server
from supportbot.settings import DEFAULT_KNOWLEDGE_DIR, Settings
from supportbot.stack import Stack, private_settings, rest_headers, scratch_database

# (concurrent conversations, messages in each)
DEFAULT_LEVELS: Tuple[Tuple[int, int], ...] = ((1, 40), (8, 12), (50, 6), (200, 20))
RASA_INIT_SMALLTALK = ["hello", "I am sad", "are you a bot?", "not really", "great", "very good", "hi there",
                       "I am feeling down", "yes", "no", "good morning", "goodbye", "perfect", "extremely sad"]
REQUEST_TIMEOUT = 120.0


@dataclass
class LevelResult:
    conversations: int
    messages_each: int
    latencies_ms: List[float] = field(default_factory=list)
    errors: int = 0
    replied: int = 0       # turns that got at least one reply
    answered: int = 0      # turns answered from the knowledge (kind "answer"); the rasa init bot has no such kind
    replies: int = 0
    handoffs: int = 0
    senders: List[str] = field(default_factory=list)
    elapsed: float = 0.0
    lost: Optional[int] = None  # messages or replies missing from the database afterwards (our stack only)
    cpu_ms_per_message: List[float] = field(default_factory=list)  # per process of the stack

    @property
    def sent(self) -> int:
        return self.conversations * self.messages_each

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.elapsed if self.elapsed else 0.0


def faq_conversations(count: int, length: int, seed: int) -> List[List[str]]:
    """`count` conversations of `length` distinct example questions of the demo knowledge, one language each. Entries
    that always go to a person are left out: the rest of such a conversation would wait for an agent."""
    kb = load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    by_language: Dict[str, List[str]] = {}
    for entry in (e for e in kb.entries if not e.handoff):
        for language, questions in entry.questions.items():
            by_language.setdefault(language, []).extend(questions)
    rng = random.Random(seed)
    languages = sorted(by_language)
    conversations = []
    for i in range(count):
        pool = by_language[languages[i % len(languages)]]
        conversations.append(rng.sample(pool, min(length, len(pool))) * (length // len(pool) + 1))
    return [c[:length] for c in conversations]


def smalltalk_conversations(count: int, length: int, seed: int) -> List[List[str]]:
    rng = random.Random(seed)
    return [[rng.choice(RASA_INIT_SMALLTALK) for _ in range(length)] for _ in range(count)]


async def drive(url: str, conversations: Sequence[Sequence[str]], prefix: str, headers: Optional[dict] = None) -> LevelResult:
    result = LevelResult(len(conversations), len(conversations[0]) if conversations else 0)
    connector = aiohttp.TCPConnector(limit=len(conversations) + 1)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:
        async def customer(number: int, texts: Sequence[str]) -> None:
            sender = f"{prefix}-{number}"
            result.senders.append(sender)
            for text in texts:
                started = time.perf_counter()
                try:
                    async with session.post(url, json={"sender": sender, "message": text}) as reply:
                        body = await reply.json(content_type=None) if reply.status == 200 else None
                        ok = reply.status == 200 and isinstance(body, list)
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                    ok, body = False, None
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                if not ok:
                    result.errors += 1
                    continue
                result.replies += len(body)
                result.replied += bool(body)
                kinds = {(r.get("custom") or {}).get("kind") for r in body}
                result.answered += Kind.ANSWER in kinds
                if Kind.HANDOFF in kinds:  # this customer now waits for a person; the next message is a new customer's
                    result.handoffs += 1
                    sender = f"{prefix}-{number}-{result.handoffs}"
                    result.senders.append(sender)

        started = time.perf_counter()
        await asyncio.gather(*(customer(i, texts) for i, texts in enumerate(conversations)))
        result.elapsed = time.perf_counter() - started
    return result


def lost_in_database(settings: Settings, result: LevelResult) -> int:
    """Customer messages and bot replies the customers saw that the transcript does not hold."""
    store = HandoffStore.open(settings.database_url, run_migrations=False)
    stored_customer = stored_bot = 0
    for sender in result.senders:
        conversation = store.find("rest", sender)
        if conversation is None:
            continue
        stored_customer += len(store.messages(conversation.id, 0, ["customer"]))
        stored_bot += len(store.messages(conversation.id, 0, ["bot"]))
    return max(0, result.sent - result.errors - stored_customer) + max(0, result.replies - stored_bot)


def peak_rss_mb(pids: Sequence[int]) -> Dict[int, float]:
    """The high-water mark of each process's resident memory (VmHWM), with its children's."""
    peaks: Dict[int, float] = {}
    for pid in pids:
        total = 0.0
        for member in [pid] + _descendants(pid):
            try:
                for line in Path(f"/proc/{member}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) / 1024
            except OSError:
                pass
        peaks[pid] = total
    return peaks


def cpu_seconds(pids: Sequence[int]) -> List[float]:
    """User + system CPU time of each process so far (with its children's), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = []
    for pid in pids:
        total = 0.0
        for member in [pid] + _descendants(pid):
            try:
                fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
            except (OSError, IndexError, ValueError):
                pass
        totals.append(total)
    return totals


def _descendants(pid: int) -> List[int]:
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return children + [d for c in children for d in _descendants(c)]


def parse_levels(spec: Optional[str]) -> Tuple[Tuple[int, int], ...]:
    """'1x40,8x12' → ((1, 40), (8, 12))."""
    if not spec:
        return DEFAULT_LEVELS
    levels = []
    for part in spec.split(","):
        conversations, _, messages = part.partition("x")
        levels.append((int(conversations), int(messages or 10)))
    return tuple(levels)


def _row(name: str, r: LevelResult) -> str:
    answered = f"{100 * r.answered / r.sent:.0f}%" if name == "this bot" else "–"
    lost = "–" if r.lost is None else str(r.lost)
    return (f"| {r.conversations} × {r.messages_each} | {name} | {r.percentile(0.5):.0f} / {r.percentile(0.95):.0f} / "
            f"{max(r.latencies_ms):.0f} ms | {r.per_second:.1f} | {r.errors} | {100 * r.replied / r.sent:.0f}% | "
            f"{answered} | {r.handoffs if name == 'this bot' else '–'} | {lost} |")


def against_the_targets(ours: Sequence[LevelResult], theirs: Sequence[LevelResult], stack_mb: float) -> str:
    """The issue's targets, each with this run's figure (levels the run did not measure are left out)."""
    pairs = {a.conversations: (a, b) for a, b in zip(ours, theirs)}
    rows = []

    def row(target: str, figure: str, met: bool) -> None:
        rows.append(f"| {target} | {figure} | {'yes' if met else 'no'} |")

    busy = [level for level in (8, 50) if level in pairs]
    if busy:
        ratios = [pairs[level][0].per_second / pairs[level][1].per_second for level in busy]
        row(f"throughput ≥ 2× the `rasa init` bot's at {' and '.join(map(str, busy))} conversations",
            " / ".join(f"{r:.2f}×" for r in ratios), all(r >= 2 for r in ratios))
    if 1 in pairs:
        a, b = pairs[1]
        ratio = a.percentile(0.5) / b.percentile(0.5)
        row("p50 with one conversation ≤ the `rasa init` bot's", f"{ratio:.2f}×", ratio <= 1)
    if 50 in pairs:
        a, b = pairs[50]
        ratio = a.percentile(0.95) / b.percentile(0.95)
        row("p95 with 50 conversations ≤ the `rasa init` bot's", f"{ratio:.2f}×", ratio <= 1)
    if 200 in pairs:
        a = pairs[200][0]
        row(f"0 errors and nothing lost at 200 × {a.messages_each}", f"{a.errors} errors, {a.lost} lost",
            a.errors == 0 and a.lost == 0)
    row("the whole stack's peak RSS ≤ 2.5 GB", f"{stack_mb / 1024:.2f} GB", stack_mb <= 2.5 * 1024)
    return "| target | this run | met |\n|---|---|---|\n" + "\n".join(rows)


def bench_load(args, report: Dict[str, str]) -> None:
    levels = parse_levels(getattr(args, "levels", None))
    # no rate limit: the benchmark's customers write as fast as the bot answers
    settings = private_settings(args.settings, database_url=scratch_database(BENCH_DIR / "load.db"), rate_limit="off")
    ours: List[LevelResult] = []
    with Stack(settings, quiet=True) as stack:
        auth = rest_headers(settings.rest_api_token)
        first = asyncio.run(drive(settings.rest_url, faq_conversations(1, 1, seed=98), "first-after-start", auth))
        asyncio.run(drive(settings.rest_url, faq_conversations(4, 3, seed=99), "warmup", auth))
        for conversations, messages in levels:
            prefix = f"load{conversations}x{messages}"
            pids = [p.pid for p in stack.processes]
            cpu_before = cpu_seconds(pids)
            result = asyncio.run(drive(settings.rest_url, faq_conversations(conversations, messages, seed=conversations),
                                       prefix, auth))
            result.cpu_ms_per_message = [1000 * (after - before) / result.sent
                                         for before, after in zip(cpu_before, cpu_seconds(pids))]
            result.lost = lost_in_database(settings, result)
            print("this bot:", _row("this bot", result), flush=True)
            ours.append(result)
        our_memory = peak_rss_mb([p.pid for p in stack.processes])
    names = ["action server"] + [f"Rasa server {i + 1}" if settings.rasa_workers > 1 else "Rasa server"
                                 for i in range(settings.rasa_workers)] + ["gateway"]

    theirs: List[LevelResult] = []
    with rasa_init_server() as (url, process):
        asyncio.run(drive(url, smalltalk_conversations(4, 3, seed=99), "warmup"))
        for conversations, messages in levels:
            cpu_before = cpu_seconds([process.pid])
            result = asyncio.run(drive(url, smalltalk_conversations(conversations, messages, seed=conversations),
                                       f"load{conversations}x{messages}"))
            result.cpu_ms_per_message = [1000 * (cpu_seconds([process.pid])[0] - cpu_before[0]) / result.sent]
            print("rasa init:", _row("`rasa init`", result), flush=True)
            theirs.append(result)
        their_memory = peak_rss_mb([process.pid])[process.pid]

    rows = [line for a, b in zip(ours, theirs) for line in (_row("this bot", a), _row("`rasa init`", b))]
    ratios = [
        f"| {a.conversations} | {a.per_second / b.per_second:.2f}× | {a.percentile(0.5) / b.percentile(0.5):.2f}× | "
        f"{a.percentile(0.95) / b.percentile(0.95):.2f}× |"
        for a, b in zip(ours, theirs)
    ]
    cpu = [f"| {a.conversations} | " + " | ".join(f"{ms:.1f}" for ms in a.cpu_ms_per_message)
           + f" | {sum(a.cpu_ms_per_message):.1f} | {sum(b.cpu_ms_per_message):.1f} |" for a, b in zip(ours, theirs)]
    memory = " · ".join(f"{name} {mb:.0f} MB" for name, mb in zip(names, our_memory.values()))
    report["load"] = (
        against_the_targets(ours, theirs, sum(our_memory.values())) + "\n\n"
        "Simulated customers write at the same time, each sending its messages one after the other (the next after "
        "the reply). Ours ask distinct example questions of the demo knowledge, one language each (et, ru, en), "
        "through the gateway's REST channel, with the transcript and Rasa's tracker in SQLite; the `rasa init` bot "
        "(in-memory tracker) gets its own small talk. When our bot hands a customer over to a person, that "
        "customer's next messages would only wait for an agent, so they come from a new customer instead. *Lost*: customer messages or replies the customer saw that "
        "are missing from the transcript afterwards.\n\n"
        "| conversations × messages | bot | latency p50 / p95 / max | messages/s | errors | replied | answered from "
        "the knowledge | handed off | lost |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "Ratios, this bot to the `rasa init` bot (throughput: higher is better; latency: lower is better):\n\n"
        "| conversations | throughput | p50 | p95 |\n|---|---|---|---|\n" + "\n".join(ratios) + "\n\n"
        "CPU time per message, by process of our stack (ms; the machine has 2 cores):\n\n"
        f"| conversations | {' | '.join(names)} | all | the `rasa init` bot |\n|---|{'---|' * (len(names) + 2)}\n" + "\n".join(cpu) + "\n\n"
        f"The first customer after the start got a reply in {first.latencies_ms[0]:.0f} ms; with one conversation at a "
        f"time the median was {ours[0].percentile(0.5):.0f} ms.\n\n"
        f"Peak resident memory: {memory}; whole stack {sum(our_memory.values()):.0f} MB. "
        f"The `rasa init` bot: {their_memory:.0f} MB."
    )
    print(report["load"], flush=True)
