"""`supportbot eval faults`: each process of a running bot is killed (kill -9) or stopped (SIGSTOP, then SIGCONT) in
the middle of conversations, and what the customers sent is counted against what the database stored.

For each fault a real `supportbot run` is started on private ports with a database of its own. Simulated customers
write over REST meanwhile; afterwards the transcript (the `messages` and `handoffs` tables) is read back. *Lost*: a
message the gateway accepted (2xx) that the transcript does not hold. A message to a gateway that is down fails at
HTTP level: the customer's client knows and would send it again, so it is counted as refused, not lost."""
from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import aiohttp
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.engine import make_url

from handoff import models as m
from protocol.kinds import Kind
from protocol.reasons import Reason
from supportbot.eval.load import faq_conversations
from supportbot.settings import PROJECT_ROOT, Settings
from supportbot.stack import free_port, remove_database, rest_headers, scratch_database

ROLE_COMMANDS = {"actions": "supportbot.action_server", "rasa": "bot.server", "gateway": "supportbot.gateway"}
CUSTOMERS = 8
SECONDS_BETWEEN_MESSAGES = (3.0, 4.0)  # each customer's pace: under the default rate limit of 20 a minute
WARMUP_SECONDS = 20.0
MID_TURN_WAIT = 10.0  # after the warm-up, the fault waits up to this long for a message on its way
STOP_SECONDS = 30.0  # how long a SIGSTOP lasts before the SIGCONT
KEEP_SENDING_AFTER_FAULT = 30.0  # at least this long after the kill, or after the SIGCONT
KEEP_SENDING_AFTER_RECOVERY = 15.0
GIVE_UP_AFTER_FAULT = 150.0
REQUEST_TIMEOUT = 90.0
SETTLE_SECONDS = 5.0
JOURNAL_WAIT_AFTER_FAULT = 240.0  # while the turn journal holds unfinished turns, the bot runs on up to this long
SLOW_REPLY_SECONDS = 30.0  # the promise: a polite message within 30 s, even when the bot fails
START_TIMEOUT = 900.0  # the first run may train the model
READY_LINE = "the bot is running"
RESTART_LINE = re.compile(r"==> the (?P<label>.+?) stopped \(exit code (?P<code>-?\d+)\); starting it again in (?P<delay>\d+) s")
HANDED_OFF_KINDS = (Kind.HANDOFF, Kind.QUEUE_STATUS)
WITH_THE_HUMANS = ("waiting", "agent")
ACCEPTED = "accepted"


@dataclass(frozen=True)
class Fault:
    key: str
    label: str
    role: str  # a key of ROLE_COMMANDS; a fault of "rasa" hits every Rasa server
    action: str  # "kill" or "stop"


FAULTS = (
    Fault("kill-actions", "kill -9 of the action server", "actions", "kill"),
    Fault("kill-rasa", "kill -9 of the Rasa servers", "rasa", "kill"),
    Fault("kill-gateway", "kill -9 of the gateway", "gateway", "kill"),
    Fault("stop-actions", f"SIGSTOP of the action server for {STOP_SECONDS:.0f} s", "actions", "stop"),
    Fault("stop-rasa", f"SIGSTOP of the Rasa servers for {STOP_SECONDS:.0f} s", "rasa", "stop"),
)


@dataclass
class Turn:
    """One customer message as the customer's client saw it. Times are seconds since the epoch."""

    sender: str
    text: str
    sent_at: float
    done_at: float
    outcome: str = ACCEPTED  # or how it failed: "refused", "cut", "timed out", "HTTP 503", "bad reply"
    kinds: Tuple[str, ...] = ()  # the replies' custom `kind`s
    reasons: Tuple[str, ...] = ()  # the handoff reasons among them

    @property
    def accepted(self) -> bool:
        return self.outcome == ACCEPTED

    @property
    def failed(self) -> bool:
        """The bot did not serve this turn: an HTTP failure, no reply, or the bot's own failure notice."""
        return not self.accepted or not self.kinds or Reason.BOT_UNAVAILABLE in self.reasons

    @property
    def answered(self) -> bool:
        return self.accepted and Kind.ANSWER in self.kinds


@dataclass
class Counts:
    """What the transcript holds of the customers' turns."""

    sent: int = 0
    accepted: int = 0
    failed: Counter = field(default_factory=Counter)  # how, for the turns that failed at HTTP level
    stored: int = 0  # customer messages in the transcript
    lost: int = 0  # accepted, not stored
    failed_but_stored: int = 0  # failed at HTTP level, yet stored
    stored_unsent: int = 0  # customer messages no turn accounts for (should be none)
    silent_messages: int = 0  # no bot or agent message after them, while the bot owns the conversation
    silent_conversations: int = 0
    queued_bot_unavailable: int = 0  # conversations with a handoff of reason bot_unavailable
    promised_not_queued: int = 0  # conversations told a colleague will answer, yet not with the humans
    longest_wait: Optional[float] = None  # seconds from a customer message to the next bot or agent message
    slow_replies: int = 0  # customer messages whose next reply came after SLOW_REPLY_SECONDS
    pending_in_journal: Optional[int] = None  # messages still marked turn_pending (None: no such column)


def read_only_url(database_url: str) -> str:
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return f"sqlite:///file:{Path(parsed.database).resolve()}?mode=ro&uri=true"
    return database_url


def _as_utc(moment) -> Optional[datetime]:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def count_outcomes(database_url: str, turns: Sequence[Turn]) -> Counts:
    """Match the customers' turns against the transcript of their REST conversations (read only)."""
    counts = Counts(sent=len(turns), accepted=sum(t.accepted for t in turns),
                    failed=Counter(t.outcome for t in turns if not t.accepted))
    senders = {t.sender for t in turns}
    engine = create_engine(read_only_url(database_url), future=True)
    try:
        conversations_table, messages_table, handoffs_table = (
            m.Conversation.__table__, m.Message.__table__, m.Handoff.__table__)
        with engine.connect() as db:
            conversations = {
                row.id: row for row in db.execute(
                    select(conversations_table.c.id, conversations_table.c.customer_id, conversations_table.c.state)
                    .where(conversations_table.c.channel == "rest"))
                if row.customer_id in senders}
            messages = [row for row in db.execute(
                select(messages_table.c.id, messages_table.c.conversation_id, messages_table.c.role,
                       messages_table.c.text, messages_table.c.payload, messages_table.c.created_at)
                .order_by(messages_table.c.id)) if row.conversation_id in conversations]
            handoffs = [row for row in db.execute(
                select(handoffs_table.c.conversation_id, handoffs_table.c.reason)) if row.conversation_id in conversations]
            if _has_journal(db):
                pending = [row for row in db.execute(select(messages_table.c.conversation_id)
                                                     .where(messages_table.c.turn_pending.is_(True)))]
                counts.pending_in_journal = sum(row.conversation_id in conversations for row in pending)
    finally:
        engine.dispose()

    _match_turns(counts, turns, conversations, messages)
    _count_silence_and_waits(counts, conversations, messages)
    counts.queued_bot_unavailable = len({h.conversation_id for h in handoffs if h.reason == Reason.BOT_UNAVAILABLE})
    promised = {row.conversation_id for row in messages
                if row.role == "bot" and ((row.payload or {}).get("custom") or {}).get("kind") == Kind.HANDOFF}
    counts.promised_not_queued = sum(conversations[c].state not in WITH_THE_HUMANS for c in promised)
    return counts


def _has_journal(db) -> bool:
    return any(column["name"] == "turn_pending" for column in inspect(db).get_columns("messages"))


def pending_turns(database_url: str) -> Optional[int]:
    """Customer messages the turn journal still holds as unfinished (None: the schema has no journal)."""
    engine = create_engine(read_only_url(database_url), future=True)
    try:
        with engine.connect() as db:
            if not _has_journal(db):
                return None
            messages_table = m.Message.__table__
            return db.execute(select(func.count()).select_from(messages_table)
                              .where(messages_table.c.turn_pending.is_(True))).scalar()
    finally:
        engine.dispose()


def _match_turns(counts: Counts, turns: Sequence[Turn], conversations: Dict[int, Any], messages: Sequence) -> None:
    """Each turn is matched to a stored customer message of its sender with its text: the accepted turns first."""
    sender_of = {conversation_id: row.customer_id for conversation_id, row in conversations.items()}
    stored: Counter = Counter((sender_of[row.conversation_id], row.text) for row in messages if row.role == "customer")
    counts.stored = sum(stored.values())
    for turn in sorted(turns, key=lambda t: not t.accepted):
        key = (turn.sender, turn.text)
        if stored[key] > 0:
            stored[key] -= 1
            counts.failed_but_stored += not turn.accepted
        elif turn.accepted:
            counts.lost += 1
    counts.stored_unsent = sum(stored.values())


def _count_silence_and_waits(counts: Counts, conversations: Dict[int, Any], messages: Sequence) -> None:
    by_conversation: Dict[int, List] = {}
    for row in messages:
        by_conversation.setdefault(row.conversation_id, []).append(row)
    waits: List[float] = []
    for conversation_id, rows in by_conversation.items():
        unanswered: List = []  # customer messages since the last bot or agent message
        for row in rows:
            if row.role == "customer":
                unanswered.append(row)
            elif row.role in ("bot", "agent") and unanswered:
                replied_at = _as_utc(row.created_at)
                waits += [(replied_at - _as_utc(asked.created_at)).total_seconds() for asked in unanswered]
                unanswered = []
        if unanswered and conversations[conversation_id].state not in WITH_THE_HUMANS:
            counts.silent_messages += len(unanswered)
            counts.silent_conversations += 1
    counts.longest_wait = max(waits) if waits else None
    counts.slow_replies = sum(wait > SLOW_REPLY_SECONDS for wait in waits)


def answers_again_after(turns: Sequence[Turn], fault_at: float) -> Optional[float]:
    """Seconds from the fault to the first FAQ answer after which no turn failed; None if that never came."""
    recovered_at: Optional[float] = None
    for turn in sorted((t for t in turns if t.done_at >= fault_at), key=lambda t: t.done_at):
        if turn.failed:
            recovered_at = None
        elif turn.answered and recovered_at is None:
            recovered_at = turn.done_at
    return None if recovered_at is None else recovered_at - fault_at


@dataclass(frozen=True)
class ChildProcess:
    pid: int
    role: str
    started: int  # the start time in /proc, so that a reused pid is never signalled
    port: Optional[int] = None


def _proc_stat(pid: int) -> Optional[List[str]]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children_of(parent: int) -> List[ChildProcess]:
    """The processes `supportbot run` started, from /proc: each one's role from its command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is None or int(stat[1]) != parent:
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        role = next((r for r, module in ROLE_COMMANDS.items() if module.encode() in command), None)
        if role is not None:
            port = command[command.index(b"--port") + 1] if b"--port" in command[:-1] else b""
            found.append(ChildProcess(int(entry.name), role, int(stat[19]), int(port) if port.isdigit() else None))
    return sorted(found, key=lambda c: c.pid)


def _alive(child: ChildProcess) -> bool:
    stat = _proc_stat(child.pid)
    return stat is not None and int(stat[19]) == child.started and stat[0] != "Z"


def _signal(child: ChildProcess, number: int, group: bool = False) -> None:
    if not _alive(child):
        return
    try:
        if group and os.getpgid(child.pid) == child.pid:  # each child leads a session of its own
            os.killpg(child.pid, number)
        else:
            os.kill(child.pid, number)
    except ProcessLookupError:
        pass


class RunningBot:
    """`supportbot run` as a user starts it, on private ports and a private database; stopped on exit, whatever
    happened, with every process it started (restarted ones too)."""

    def __init__(self, workdir: Path, settings: Settings):
        """`settings`: the configuration of the run, which the bot's own ports, database and token override."""
        self.workdir = workdir
        self.settings = settings
        self.database = workdir / "supportbot.db"
        self.token = secrets.token_urlsafe(24)
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None
        self.seen: Dict[int, ChildProcess] = {}
        self.started_at = time.time()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/rest/webhook"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    def environment(self) -> Dict[str, str]:
        defaults = Settings()  # the processes' logs go to their files (LOG_LEVEL), not to this run's output
        settings = self.settings.with_overrides(
            gateway_port=self.port, rasa_port=free_port(), action_port=free_port(), database_url=self.database_url,
            rest_api_token=self.token, telegram_token="", host="127.0.0.1", knowledge_dir=str(defaults.knowledge_dir),
            index_dir=defaults.index_dir, log_level=defaults.log_level, rasa_webhook_url=defaults.rasa_webhook_url)
        return settings.child_environment()

    def start(self) -> "RunningBot":
        self.workdir.mkdir(parents=True, exist_ok=True)
        scratch_database(self.database)
        self.started_at = time.time()
        with open(self.workdir / "run.out", "wb") as out, open(self.workdir / "run.err", "wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "supportbot.cli", "run"], cwd=PROJECT_ROOT,
                                            env=self.environment(), stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while READY_LINE not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(f"`supportbot run` exited with code {self.process.returncode} while starting:\n"
                                   + "\n".join(self.errors().splitlines()[-20:]))
            if time.monotonic() > deadline:
                raise TimeoutError(f"`supportbot run` was not ready within {START_TIMEOUT:.0f} s")
            time.sleep(0.5)
        self.children()
        return self

    def output(self) -> str:
        return (self.workdir / "run.out").read_text(encoding="utf-8", errors="replace")

    def errors(self) -> str:
        return (self.workdir / "run.err").read_text(encoding="utf-8", errors="replace")

    def children(self, role: Optional[str] = None) -> List[ChildProcess]:
        current = children_of(self.process.pid) if self.process is not None else []
        self.seen.update((child.pid, child) for child in current)
        return [child for child in current if role is None or child.role == role]

    def restarts(self) -> List[Tuple[str, int, int]]:
        """(process label, exit code, delay in s) of each restart the supervisor announced."""
        return [(m["label"], int(m["code"]), int(m["delay"])) for m in RESTART_LINE.finditer(self.errors())]

    def stop(self) -> None:
        if self.process is None:
            return
        self.children()
        for child in self.seen.values():
            _signal(child, signal.SIGCONT)  # a stopped process would not see the SIGTERM
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        for child in self.seen.values():
            _signal(child, signal.SIGKILL, group=True)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def keep_logs(self) -> None:
        """The processes' logs of this run go to its own directory: those named by a private port are moved there
        (they would pile up in var/log), the others copied (the next run overwrites them)."""
        log_dir = PROJECT_ROOT / "var" / "log"
        rasa_ports = {child.port for child in self.seen.values() if child.role == "rasa" and child.port}
        for name in ["actions.log", "gateway.log", "rasa.log"] + [f"rasa-{port}.log" for port in sorted(rasa_ports)]:
            path = log_dir / name
            if not path.exists() or path.stat().st_mtime < self.started_at:
                continue
            if name.startswith("rasa-"):
                shutil.move(str(path), self.workdir / name)
            else:
                shutil.copyfile(path, self.workdir / name)

    def __enter__(self) -> "RunningBot":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
        self.keep_logs()


@dataclass
class FaultResult:
    fault: Fault
    counts: Counts
    turns: List[Turn]
    fault_at: float
    answers_again: Optional[float]
    restarts: List[Tuple[str, int, int]]
    replaced_after: Optional[float]  # seconds until a new process of the role was running
    rasa_servers: int
    in_flight_at_fault: int

    @property
    def longest_round_trip(self) -> Optional[float]:
        times = [t.done_at - t.sent_at for t in self.turns if t.accepted]
        return max(times) if times else None


class Traffic:
    """The simulated customers: each writes at its own pace, waits for the reply, and starts a new conversation
    once handed over to a person (its next messages would only wait for an agent) or left without a reply."""

    def __init__(self, url: str, token: str, prefix: str, seed: int):
        self.url, self.headers, self.prefix = url, rest_headers(token), prefix
        self.rng = random.Random(seed)
        self.questions = faq_conversations(CUSTOMERS, 120, seed=seed)
        self.turns: List[Turn] = []
        self.in_flight = 0  # messages sent whose reply has not come yet
        self.stop_sending = False

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=CUSTOMERS + 1, force_close=True)  # a new connection each time
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self.headers) as session:
            await asyncio.gather(*(self._customer(session, number) for number in range(CUSTOMERS)))

    async def _customer(self, session: aiohttp.ClientSession, number: int) -> None:
        await asyncio.sleep(number * 0.4)
        conversation = 0
        for text in self.questions[number]:
            if self.stop_sending:
                return
            sender = f"{self.prefix}-{number}-{conversation}"
            turn = await self._send(session, sender, text)
            self.turns.append(turn)
            if turn.accepted and (not turn.kinds or any(k in HANDED_OFF_KINDS for k in turn.kinds)):
                conversation += 1
            await asyncio.sleep(max(0.2, turn.sent_at + self.rng.uniform(*SECONDS_BETWEEN_MESSAGES) - time.time()))

    async def _send(self, session: aiohttp.ClientSession, sender: str, text: str) -> Turn:
        turn = Turn(sender, text, time.time(), 0.0)
        self.in_flight += 1
        try:
            async with session.post(self.url, json={"sender": sender, "message": text}) as reply:
                if reply.status // 100 != 2:
                    turn.outcome = f"HTTP {reply.status}"
                else:
                    body = await reply.json(content_type=None)
                    if not isinstance(body, list):
                        raise ValueError("not a list of replies")
                    customs = [r.get("custom") or {} for r in body if isinstance(r, dict)]
                    turn.kinds = tuple(str(c.get("kind")) for c in customs)
                    turn.reasons = tuple(str(c["reason"]) for c in customs if c.get("reason"))
        except aiohttp.ClientConnectorError:
            turn.outcome = "refused"
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError):
            turn.outcome = "cut"
        except asyncio.TimeoutError:
            turn.outcome = "timed out"
        except (aiohttp.ClientError, ValueError):
            turn.outcome = "bad reply"
        finally:
            self.in_flight -= 1
        turn.done_at = time.time()
        return turn


def _recovered(turns: Sequence[Turn], fault_at: float, now: float) -> bool:
    after = answers_again_after(turns, fault_at)
    return after is not None and now - (fault_at + after) >= KEEP_SENDING_AFTER_RECOVERY


async def _inject(bot: RunningBot, fault: Fault, traffic: Traffic, seen: Dict[str, float]) -> None:
    await asyncio.sleep(WARMUP_SECONDS)
    mid_turn_deadline = time.monotonic() + MID_TURN_WAIT
    while not traffic.in_flight and time.monotonic() < mid_turn_deadline:
        await asyncio.sleep(0.005)
    targets = bot.children(fault.role)
    if not targets:
        raise RuntimeError(f"no {fault.role} process found among the children of `supportbot run`")
    seen["fault_at"], seen["in_flight"] = time.time(), traffic.in_flight
    for target in targets:
        _signal(target, signal.SIGKILL if fault.action == "kill" else signal.SIGSTOP)
    ended_at = seen["fault_at"]
    if fault.action == "stop":
        await asyncio.sleep(STOP_SECONDS)
        for target in targets:
            _signal(target, signal.SIGCONT)
        ended_at = time.time()
    old = {t.pid for t in targets}
    while True:
        now = time.time()
        if "replaced_after" not in seen:
            fresh = [c for c in bot.children(fault.role) if c.pid not in old]
            if len(fresh) >= len(targets):
                seen["replaced_after"] = now - seen["fault_at"]
        if now - ended_at >= KEEP_SENDING_AFTER_FAULT and (
                _recovered(traffic.turns, seen["fault_at"], now) or now - seen["fault_at"] >= GIVE_UP_AFTER_FAULT):
            break
        await asyncio.sleep(0.5)
    traffic.stop_sending = True


async def _drive(bot: RunningBot, fault: Fault, traffic: Traffic) -> Dict[str, float]:
    seen: Dict[str, float] = {}
    injector = asyncio.create_task(_inject(bot, fault, traffic, seen))
    customers = asyncio.create_task(traffic.run())
    try:
        await injector
    finally:
        traffic.stop_sending = True
        await customers  # the messages still on their way are awaited
    return seen


def run_fault(fault: Fault, workdir: Path, seed: int, settings: Settings) -> FaultResult:
    bot = RunningBot(workdir, settings)
    try:
        with bot:
            rasa_servers = len(bot.children("rasa"))
            traffic = Traffic(bot.url, bot.token, f"fault-{fault.key}", seed)
            seen = asyncio.run(_drive(bot, fault, traffic))
            time.sleep(SETTLE_SECONDS)  # the last replies are stored
            journal_deadline = seen["fault_at"] + JOURNAL_WAIT_AFTER_FAULT
            while (pending_turns(bot.database_url) or 0) and time.time() < journal_deadline:
                time.sleep(2)  # the gateway takes over the turns a killed one left, after a while
        counts = count_outcomes(bot.database_url, traffic.turns)
    finally:
        remove_database(bot.database)
    return FaultResult(fault, counts, traffic.turns, seen["fault_at"], answers_again_after(traffic.turns, seen["fault_at"]),
                       bot.restarts(), seen.get("replaced_after"), rasa_servers, int(seen["in_flight"]))


def _stop_on_signal(signum, frame) -> None:
    raise KeyboardInterrupt


def _seconds(value: Optional[float], never: str = "never") -> str:
    return never if value is None else f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _failures(counts: Counts) -> str:
    if not counts.failed:
        return "0"
    return f"{sum(counts.failed.values())} (" + ", ".join(
        f"{number} {how}" for how, number in counts.failed.most_common()) + ")"


def _restarted(result: FaultResult) -> str:
    if not result.restarts:
        return "no (it never exited)" if result.fault.action == "stop" else "no"
    codes = sorted({code for _, code, _ in result.restarts})
    replaced = f"; a new process after {_seconds(result.replaced_after)}" if result.replaced_after is not None else ""
    return f"yes, {len(result.restarts)}× (exit code {', '.join(map(str, codes))}{replaced})"


def result_row(result: FaultResult) -> str:
    c = result.counts
    silent = f"{c.silent_messages}" + (f" ({c.silent_conversations} conversations)" if c.silent_messages else "")
    return (f"| {result.fault.label} | {c.sent} | {c.accepted} | {_failures(c)} | {c.stored} | {c.lost} | {silent} | "
            f"{c.queued_bot_unavailable} | {_seconds(c.longest_wait, '–')} | {_seconds(result.answers_again)} | "
            f"{_restarted(result)} |")


def detail_row(result: FaultResult) -> str:
    c = result.counts
    answered = sum(t.answered for t in result.turns)
    journal = "–" if c.pending_in_journal is None else str(c.pending_in_journal)
    return (f"| {result.fault.label} | {result.in_flight_at_fault} | {c.failed_but_stored} | {c.stored_unsent} | {c.slow_replies} | "
            f"{_seconds(result.longest_round_trip, '–')} | {c.promised_not_queued} | {journal} | {answered} |")


def render(results: Sequence[FaultResult]) -> str:
    rasa_servers = max((r.rasa_servers for r in results), default=1)
    return (
        f"Each fault had a `supportbot run` of its own, started as a user starts it (default settings, so "
        f"{rasa_servers} Rasa server{'s' if rasa_servers != 1 else ''} on this machine), on private ports with an empty "
        f"SQLite database. {CUSTOMERS} simulated customers wrote over REST (bearer token) meanwhile, each asking example "
        f"questions of the demo knowledge in one language (en, ru, et), one message every "
        f"{SECONDS_BETWEEN_MESSAGES[0]:.0f}–{SECONDS_BETWEEN_MESSAGES[1]:.0f} s after the previous one was sent (or "
        f"when its reply came, if later): under the default rate limit. A customer handed over to a person, or given no "
        f"reply, starts a new conversation. After {WARMUP_SECONDS:.0f} s of traffic, as soon as a message was on its "
        f"way, the fault hit the process (for the Rasa faults, every Rasa server); a SIGSTOP lasted {STOP_SECONDS:.0f} s, then SIGCONT. The customers went "
        f"on writing until FAQ answers had worked for {KEEP_SENDING_AFTER_RECOVERY:.0f} s, at least "
        f"{KEEP_SENDING_AFTER_FAULT:.0f} s after the kill or the SIGCONT (at most {GIVE_UP_AFTER_FAULT:.0f} s after the "
        f"fault). While the turn journal still held unfinished turns, the bot ran on, up to "
        f"{JOURNAL_WAIT_AFTER_FAULT:.0f} s after the fault; then `supportbot run` was stopped and its database read "
        "back.\n\n"
        "*Failed at HTTP level*: *refused* is a connection refused (nothing listening: the client knows and would "
        "send again), *cut* a connection closed before the reply, *timed out* no reply within "
        f"{REQUEST_TIMEOUT:.0f} s. *Stored*: customer messages in the transcript. *Lost*: accepted (2xx) but not "
        "stored. *Left in silence*: customer messages with no bot or agent message after them while the conversation "
        "is not with the humans. *Queued*: conversations waiting in the agents' queue with reason `bot_unavailable`. "
        "*Longest wait*: from a customer message to the next bot or agent message, in the transcript. *FAQ answers "
        "again after*: from the fault to the first FAQ answer after which no turn failed (an HTTP failure, no reply, or "
        "the bot's failure notice).\n\n"
        "| fault | sent | accepted | failed at HTTP level | stored | lost | left in silence | queued `bot_unavailable` | "
        "longest wait for a reply | FAQ answers again after | restarted by `supportbot run` |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(result_row(r) for r in results) + "\n\n"
        f"The details: messages on their way when the fault hit; failed at HTTP level yet stored; stored though never sent; customer messages whose reply came "
        f"after more than {SLOW_REPLY_SECONDS:.0f} s; the longest HTTP round trip of an accepted message; "
        "conversations told a colleague will answer that are not in the agents' queue; customer messages still marked "
        "pending in the turn journal at the end; turns answered from the knowledge.\n\n"
        f"| fault | on their way at the fault | failed, yet stored | stored, never sent | replies after > {SLOW_REPLY_SECONDS:.0f} s | "
        "longest round trip | told a colleague will answer, not queued | pending in the journal | answered from the "
        "knowledge |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(detail_row(r) for r in results)
    )


def bench_faults(args, report: Dict[str, str]) -> None:
    base = PROJECT_ROOT / "var" / "bench" / f"faults-{os.getpid()}"
    results: List[FaultResult] = []
    previous = signal.signal(signal.SIGTERM, _stop_on_signal)  # a stopped benchmark stops its bots too
    try:
        for number, fault in enumerate(FAULTS):
            print(f"==> {fault.label}", file=sys.stderr, flush=True)
            result = run_fault(fault, base / fault.key, seed=100 + number, settings=args.settings)
            print(result_row(result), flush=True)
            results.append(result)
    finally:
        signal.signal(signal.SIGTERM, previous)
    report["faults"] = render(results)
    print(report["faults"], flush=True)
