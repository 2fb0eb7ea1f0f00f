"""The service-desk log and the managers' figures, read from the handoff database: one row per request, and rates
that say what they count, over days and weeks and per language. The console's Requests and Analytics pages and the
CLI all call this module; docs/analytics.md defines every figure.

A conversation lives as long as the customer's chat does (a Telegram chat is one conversation for ever), so the
unit here is the *request*: a run of the conversation that begins with a customer message after 30 minutes of
silence, or after a stay with the humans ended (the customer's reply to the rating request excepted). While a stay
is open, silence does not split it. A request therefore holds at most one stay with the humans."""
from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from handoff import models as m
from signals.personal_data import mask_personal_data
from handoff.views import as_utc, iso
from protocol.kinds import Kind

REQUEST_GAP = timedelta(minutes=30)  # silence that ends a request, unless the humans have it
RETURN_WINDOW = timedelta(days=7)  # a resolution is durable when the customer does not come back this soon
VISIBLE_ROLES = ("customer", "bot", "agent")  # what the customer sees; notes and system lines are not messages here
SATISFIED_FROM = 4  # a rating of 4 or 5 (of 5) is a satisfied customer
TOP_ENTRIES = 10
SNIPPET_CHARS = 160
DEFAULT_DAYS = 28  # the analytics' period when none is given: the last four weeks, today included
LOAD_CHUNK = 500
UNKNOWN_LANGUAGE = "unknown"
UNKNOWN_ENTRY = "(unknown)"
BUCKETS = ("day", "week")
MAX_BUCKETS = 1000  # days or weeks in one series

EXPORT_COLUMNS = ("id", "channel", "language", "started_at", "path", "reason", "agent", "first_agent_reply_seconds",
                  "queue_seconds", "state", "resolution", "rating", "messages")
PATHS = ("bot_only", "handed_off", "agent")
OUTCOMES = ("contained", "didnt_help", "no_answer", "handed_off")  # a partition of the requests
STATES = ("contained", "didnt_help", "no_answer", "waiting", "agent", "closed", "returned")
DURABILITY = ("durable", "came_back", "assumed")  # a partition of the resolved requests
NO_HANDOFF = "none"

DEFINITIONS: Dict[str, str] = {
    "request": (
        "A request is a run of one conversation that begins with a customer message after 30 minutes without "
        "messages, or after a stay with the humans ended (the customer's answer to the rating request stays with "
        "the stay it rates). While a stay with the humans is open, silence does not end the request, so a request "
        "holds at most one stay. A request belongs to the day (in the business time zone) its first message came."),
    "outcomes": (
        "Every request has exactly one outcome, so the four rates sum to 100 % of the requests started in the "
        "period. Contained: no handoff, the bot answered from the knowledge at least once, and the customer did not "
        "mark its last answer \"didn't help\". Didn't help: no handoff, but the last answer was marked \"didn't "
        "help\". No answer: no handoff and no answer (only greetings, clarifying questions or notices). Handed "
        "off: the request went to the humans, whatever happened next."),
    "containment": (
        "Containment is the contained share of all requests started in the period: the requests the bot dealt with "
        "alone, with no handoff and no \"didn't help\" on its last answer. It is an assumed resolution: nobody "
        "confirmed it."),
    "durability": (
        "Of the contained requests (and, apart, of the requests an agent closed): durable when 7 days have passed "
        "since the request's last message and the same customer (the same channel and customer id) started no new "
        "request in them; came back when they did; assumed when fewer than 7 days have passed and they have not "
        "come back yet, so there is no evidence either way. Assumed resolutions are never added to durable ones; "
        "the three sum to 100 % of their denominator."),
    "handoff_reasons": (
        "The requests that went to the humans, by the bot's reason, and the requests without a handoff: the rows "
        "sum to 100 % of the requests started in the period."),
    "queue_wait": (
        "From the handoff to the claim by an agent, over the stays an agent claimed (the latest claim, when a "
        "deactivated agent's conversation went back to the queue). Stays no agent claimed are counted apart, not as "
        "zero and not as an estimate."),
    "first_agent_reply": (
        "From the handoff to the agent's first message to the customer (notes do not count), over the stays that "
        "got one. Stays without an agent's reply are counted apart."),
    "percentiles": (
        "p50 and p90 are nearest-rank percentiles: the smallest time that at least 50 % (90 %) of the measured "
        "stays did not exceed."),
    "csat_bot_only": (
        "Bot only: the customers' \"was this helpful?\" verdicts on the answers in requests without a handoff; the "
        "share marked helpful, of the verdicts given."),
    "csat_handed_off": (
        "Handed off: the customers' ratings (1 to 5) of the stays with the humans; the share of 4 and 5, of the "
        "ratings given, and their average. The two are different questions and are never added together."),
    "entries": (
        "Most used: the knowledge entries the bot answered with most often in the period's requests. Least "
        "helpful: the entries with \"didn't help\" verdicts, by the share of their verdicts that said so."),
    "languages": (
        "A request's language is the one the bot replied in (else the handoff's, else the conversation's); each "
        "figure is given for all requests and for each language."),
    "rounding": (
        "Percentages have one decimal. The rows of a partition are rounded by the largest remainder (ties to the "
        "row listed first), so they add up to exactly 100 %."),
}


@dataclass(frozen=True)
class Period:
    """Whole days in a time zone, both ends included; `first` None means from the beginning."""

    first: Optional[date]
    last: date
    zone: tzinfo = timezone.utc

    def __post_init__(self) -> None:
        if self.first is not None and self.first > self.last:
            raise ValueError("the period ends before it begins")
        try:
            _ = self.start, self.end
        except OverflowError:
            raise ValueError("a day out of the calendar's range") from None

    @classmethod
    def parse(cls, since: Optional[str], until: Optional[str], zone: tzinfo, now: datetime,
              default_days: Optional[int] = None) -> "Period":
        """From YYYY-MM-DD texts (empty or None: the default): `until` defaults to today, `since` to `default_days`
        days back, today included (None: from the beginning)."""
        last = parse_day(until) if until else now.astimezone(zone).date()
        first = parse_day(since) if since else (last - timedelta(days=default_days - 1) if default_days else None)
        return cls(first, last, zone)

    @property
    def start(self) -> Optional[datetime]:
        return _midnight(self.first, self.zone) if self.first else None

    @property
    def end(self) -> datetime:
        return _midnight(self.last + timedelta(days=1), self.zone)

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def bucket_of(self, moment: datetime, by: str) -> date:
        day = self.day_of(moment)
        return day - timedelta(days=day.weekday()) if by == "week" else day

    def buckets(self, by: str, first: Optional[date] = None) -> List[date]:
        """The days, or the Mondays of the weeks, from the first day (or `first`) to the last."""
        day = first or self.first or self.last
        if by == "week":
            day -= timedelta(days=day.weekday())
        step = timedelta(days=7 if by == "week" else 1)
        if (self.last - day) // step >= MAX_BUCKETS:
            raise ValueError(f"a series has at most {MAX_BUCKETS} {by}s: choose a shorter period"
                             + (" or weeks" if by == "day" else ""))
        days = []
        while day <= self.last:
            days.append(day)
            day += step
        return days

    def describe(self) -> Dict[str, Any]:
        return {"since": self.first.isoformat() if self.first else None, "until": self.last.isoformat(),
                "time_zone": str(self.zone)}


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a date: write YYYY-MM-DD") from None


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(timezone.utc)


@dataclass(frozen=True)
class _Message:
    id: int
    role: str
    text: str
    author: Optional[str]
    created_at: datetime
    custom: Dict[str, Any]


@dataclass(frozen=True)
class _Stay:
    id: int
    reason: str
    requested_at: datetime
    claimed_at: Optional[datetime]
    agent_id: Optional[int]
    ended_at: Optional[datetime]
    outcome: Optional[str]
    resolution: Optional[str]
    rating: Optional[int]
    language: Optional[str]


@dataclass(frozen=True)
class ServiceRequest:
    """One request, as of the moment it was read. Its customer texts are kept for the search only: `row` and
    `snippet` mask personal data."""

    id: str
    conversation_id: int
    channel: str
    language: Optional[str]
    started_at: datetime
    last_message_at: datetime
    path: str
    reason: Optional[str]
    agent: Optional[str]
    first_agent_reply_seconds: Optional[int]
    queue_seconds: Optional[int]
    state: str
    resolution: Optional[str]
    rating: Optional[int]
    messages: int
    answers: Tuple[str, ...]  # the entries answered with, in order
    verdicts: Tuple[Tuple[str, bool], ...]  # (entry, helpful) of the customers' verdicts on those answers
    next_request_at: Optional[datetime]  # when the same customer's next request began
    texts: Tuple[str, ...]  # the customer's, then the bot's and the agents'

    @property
    def outcome(self) -> str:
        return "handed_off" if self.path != "bot_only" else self.state

    @property
    def language_key(self) -> str:
        return self.language or UNKNOWN_LANGUAGE

    def durability(self, now: datetime) -> str:
        if self.next_request_at is not None and self.next_request_at - self.last_message_at <= RETURN_WINDOW:
            return "came_back"
        return "durable" if now - self.last_message_at >= RETURN_WINDOW else "assumed"

    def row(self) -> Dict[str, Any]:
        """The export's columns (EXPORT_COLUMNS), personal data masked."""
        return {"id": self.id, "channel": self.channel, "language": self.language, "started_at": iso(self.started_at),
                "path": self.path, "reason": self.reason, "agent": self.agent,
                "first_agent_reply_seconds": self.first_agent_reply_seconds, "queue_seconds": self.queue_seconds,
                "state": self.state, "resolution": mask_personal_data(self.resolution) if self.resolution else None,
                "rating": self.rating, "messages": self.messages}

    def matches(self, words: str) -> bool:
        wanted = words.casefold()
        return any(wanted in text.casefold() for text in self.texts)

    def snippet(self, words: str = "") -> str:
        """Where the words occur (else the customer's first message), masked, about SNIPPET_CHARS long."""
        wanted = words.casefold()
        source = next((t for t in self.texts if wanted and wanted in t.casefold()), self.texts[0] if self.texts else "")
        masked = " ".join(mask_personal_data(source).split())
        at = masked.casefold().find(wanted) if wanted else -1
        begin = max(0, at - SNIPPET_CHARS // 3) if at > SNIPPET_CHARS // 3 else 0
        cut = masked[begin:begin + SNIPPET_CHARS]
        return ("…" if begin else "") + cut + ("…" if begin + SNIPPET_CHARS < len(masked) else "")


@dataclass
class _Run:
    opener: str
    started_at: datetime
    messages: List[_Message]
    stay: Optional[_Stay] = None


def _split(messages: Sequence[_Message], stays: Sequence[_Stay], gap: timedelta) -> List[_Run]:
    """The conversation's requests (module docstring). A stay that arrives in a request holding one already (the
    customer's "didn't help" on an old answer, with no message between) begins a request of its own."""
    rating_replies = {
        message.id for message, following in zip(messages, messages[1:])
        if message.role == "customer" and following.role == "bot" and following.custom.get("kind") == Kind.RATING_THANKS
    }
    events = sorted([(message.created_at, 0, message.id, message) for message in messages]
                    + [(stay.requested_at, 1, stay.id, stay) for stay in stays], key=lambda e: e[:3])
    runs: List[_Run] = []
    waiting: List[_Message] = []  # what came before the first customer message
    last_seen: Optional[datetime] = None
    for at, _, _, item in events:
        current = runs[-1] if runs else None
        if isinstance(item, _Stay):
            if current is None or current.stay is not None:
                runs.append(_Run(f"h{item.id}", at, waiting))
                waiting = []
            runs[-1].stay = item
            continue
        if item.role == "customer" and _begins_request(item, current, last_seen, rating_replies, gap):
            runs.append(_Run(str(item.id), at, waiting))
            waiting = []
        (runs[-1].messages if runs else waiting).append(item)
        if item.role in VISIBLE_ROLES:
            last_seen = at
    return runs


def _begins_request(message: _Message, current: Optional[_Run], last_seen: Optional[datetime],
                    rating_replies: set, gap: timedelta) -> bool:
    if current is None:
        return True
    if message.id in rating_replies:
        return False
    if current.stay is not None:
        ended = current.stay.ended_at
        return ended is not None and ended <= message.created_at
    return last_seen is None or message.created_at - last_seen >= gap


def _seconds(later: Optional[datetime], earlier: datetime) -> Optional[int]:
    return None if later is None else max(0, round((later - earlier).total_seconds()))


def _describe(conversation: Dict[str, Any], run: _Run, next_run: Optional[_Run], agent_names: Dict[int, str],
              verdicts: Dict[int, bool], now: datetime) -> ServiceRequest:
    visible = [message for message in run.messages if message.role in VISIBLE_ROLES]
    answers = [message for message in visible if message.role == "bot" and message.custom.get("kind") == Kind.ANSWER]
    agent_messages = [message for message in visible if message.role == "agent"]
    stay = run.stay
    if stay is None:
        path = "bot_only"
        if not answers:
            state = "no_answer"
        else:
            state = "didnt_help" if verdicts.get(answers[-1].id) is False else "contained"
    else:
        path = "agent" if stay.agent_id is not None or agent_messages else "handed_off"
        if stay.ended_at is not None and stay.ended_at <= now:
            state = stay.outcome or "closed"
        else:
            state = "agent" if stay.claimed_at is not None else "waiting"
    language = next((message.custom.get("language") for message in visible
                     if message.role == "bot" and message.custom.get("language")), None)
    language = language or (stay.language if stay else None) or conversation["language"]
    agent = agent_names.get(stay.agent_id) if stay and stay.agent_id else None
    first_reply = None
    if stay is not None:
        replies = [message for message in agent_messages if message.created_at >= stay.requested_at]
        agent = agent or (replies[0].author if replies else None)
        first_reply = _seconds(replies[0].created_at if replies else None, stay.requested_at)
    return ServiceRequest(
        id=f"{conversation['id']}-{run.opener}", conversation_id=conversation["id"], channel=conversation["channel"],
        language=language, started_at=run.started_at,
        last_message_at=visible[-1].created_at if visible else run.started_at, path=path,
        reason=stay.reason if stay else None, agent=agent, first_agent_reply_seconds=first_reply,
        queue_seconds=_seconds(stay.claimed_at, stay.requested_at) if stay else None, state=state,
        resolution=stay.resolution if stay else None, rating=stay.rating if stay else None, messages=len(visible),
        answers=tuple(message.custom.get("faq_id") or UNKNOWN_ENTRY for message in answers),
        verdicts=tuple((message.custom.get("faq_id") or UNKNOWN_ENTRY, verdicts[message.id]) for message in answers
                       if message.id in verdicts),
        next_request_at=next_run.started_at if next_run else None,
        # the customer's words first: the snippet without a search shows the first of them
        texts=tuple(message.text for message in visible if message.text and message.role == "customer")
        + tuple(message.text for message in visible if message.text and message.role != "customer"),
    )


class RequestLog:
    """Reads the requests from the handoff database (the HandoffStore's engine)."""

    def __init__(self, engine: Engine, gap: timedelta = REQUEST_GAP):
        self.engine = engine
        self.gap = gap

    def requests(self, period: Period, now: datetime) -> List[ServiceRequest]:
        """Every request begun in the period, oldest first, as of `now`: nothing stored later is read."""
        now = as_utc(now)
        start, end = period.start, min(period.end, now + timedelta(microseconds=1))
        with self.engine.connect() as connection:
            conversation_ids = self._begun_in(connection, start, end)
            agent_names = dict(connection.execute(select(m.Agent.id, m.Agent.display_name)).all())
            found: List[ServiceRequest] = []
            for chunk_start in range(0, len(conversation_ids), LOAD_CHUNK):
                chunk = conversation_ids[chunk_start:chunk_start + LOAD_CHUNK]
                found.extend(self._read(connection, chunk, agent_names, now))
        return sorted((r for r in found if (start is None or r.started_at >= start) and r.started_at < end),
                      key=lambda r: (r.started_at, r.conversation_id))

    @staticmethod
    def _begun_in(connection: Connection, start: Optional[datetime], end: datetime) -> List[int]:
        messages = select(m.Message.conversation_id).where(m.Message.role == "customer", m.Message.created_at < end)
        stays = select(m.Handoff.conversation_id).where(m.Handoff.requested_at < end)
        if start is not None:
            messages = messages.where(m.Message.created_at >= start)
            stays = stays.where(m.Handoff.requested_at >= start)
        ids = set(connection.execute(messages.distinct()).scalars()) | set(connection.execute(stays.distinct()).scalars())
        return sorted(ids)

    def _read(self, connection: Connection, ids: List[int], agent_names: Dict[int, str],
              now: datetime) -> Iterable[ServiceRequest]:
        conversations = {row.id: dict(row._mapping) for row in connection.execute(
            select(m.Conversation.id, m.Conversation.channel, m.Conversation.language).where(m.Conversation.id.in_(ids)))}
        messages: Dict[int, List[_Message]] = defaultdict(list)
        for row in connection.execute(
                select(m.Message.id, m.Message.conversation_id, m.Message.role, m.Message.text, m.Message.author,
                       m.Message.created_at, m.Message.payload)
                .where(m.Message.conversation_id.in_(ids), m.Message.created_at <= now).order_by(m.Message.id)):
            custom = (row.payload or {}).get("custom") if isinstance(row.payload, dict) else None
            messages[row.conversation_id].append(_Message(row.id, row.role, row.text or "", row.author,
                                                          as_utc(row.created_at), custom if isinstance(custom, dict) else {}))
        stays: Dict[int, List[_Stay]] = defaultdict(list)
        for row in connection.execute(select(m.Handoff).where(m.Handoff.conversation_id.in_(ids),
                                                              m.Handoff.requested_at <= now).order_by(m.Handoff.id)):
            packet = row.packet if isinstance(row.packet, dict) else {}
            claimed_at = _until(row.claimed_at, now)
            stays[row.conversation_id].append(_Stay(
                row.id, row.reason, as_utc(row.requested_at), claimed_at, row.agent_id if claimed_at else None,
                _until(row.ended_at, now), row.outcome, row.resolution, row.rating if _until(row.rated_at, now) else None,
                packet.get("language") if isinstance(packet.get("language"), str) else None))
        verdicts = dict(connection.execute(select(m.AnswerFeedback.message_id, m.AnswerFeedback.helpful).where(
            m.AnswerFeedback.conversation_id.in_(ids), m.AnswerFeedback.created_at <= now)).all())
        for conversation_id in ids:
            conversation = conversations.get(conversation_id)
            if conversation is None:
                continue
            runs = _split(messages[conversation_id], stays[conversation_id], self.gap)
            for run, following in zip(runs, runs[1:] + [None]):
                yield _describe(conversation, run, following, agent_names, verdicts, now)


def _until(moment: Optional[datetime], now: datetime) -> Optional[datetime]:
    """A moment that had come by `now`, else None."""
    moment = as_utc(moment)
    return moment if moment is not None and moment <= now else None


@dataclass(frozen=True)
class RequestFilter:
    """What the Requests page narrows the log to; empty fields do not narrow it."""

    channel: str = ""
    language: str = ""
    reason: str = ""
    agent: str = ""
    state: str = ""
    text: str = ""

    def keeps(self, request: ServiceRequest) -> bool:
        return ((not self.channel or request.channel == self.channel)
                and (not self.language or request.language_key == self.language)
                and (not self.reason or (request.reason or NO_HANDOFF) == self.reason)
                and (not self.agent or request.agent == self.agent)
                and (not self.state or request.state == self.state)
                and (not self.text or request.matches(self.text)))

    def apply(self, requests: Iterable[ServiceRequest]) -> List[ServiceRequest]:
        return [r for r in requests if self.keeps(r)]


def filter_options(requests: Sequence[ServiceRequest]) -> Dict[str, List[str]]:
    """The values each filter can take among these requests."""
    return {
        "channels": sorted({r.channel for r in requests}),
        "languages": sorted({r.language_key for r in requests}),
        "reasons": sorted({r.reason for r in requests if r.reason}),
        "agents": sorted({r.agent for r in requests if r.agent}),
        "states": [s for s in STATES if any(r.state == s for r in requests)],
    }


# the figures

def largest_remainder(counts: Sequence[int], decimals: int = 1) -> List[Optional[float]]:
    """Percentages of the counts' sum, rounded so that they add up to exactly 100 (ties to the first)."""
    total = sum(counts)
    if total == 0:
        return [None] * len(counts)
    scale = 10 ** decimals
    exact = [count * 100 * scale / total for count in counts]
    units = [math.floor(value) for value in exact]
    for index in sorted(range(len(counts)), key=lambda i: (-(exact[i] - units[i]), i))[:100 * scale - sum(units)]:
        units[index] += 1
    return [unit / scale for unit in units]


def partition(keys: Sequence[str], counts: Counter, of: str) -> Dict[str, Any]:
    values = [counts.get(key, 0) for key in keys]
    percents = largest_remainder(values)
    return {"of": sum(values), "denominator": of,
            "rows": [{"key": key, "count": count, "percent": percent} for key, count, percent in zip(keys, values, percents)]}


def nearest_rank(values: Sequence[float], percentile: float) -> Optional[float]:
    """The smallest value that at least `percentile` % of the values do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percentile / 100 * len(ordered))) - 1]


def _times(values: Sequence[int], missing: int, what: str, missing_as: str) -> Dict[str, Any]:
    return {"measured": len(values), missing_as: missing, "denominator": what,
            "p50_seconds": nearest_rank(values, 50), "p90_seconds": nearest_rank(values, 90)}


def _share(part: int, whole: int) -> Optional[float]:
    return round(100 * part / whole, 1) if whole else None


def figures(requests: Sequence[ServiceRequest], now: datetime) -> Dict[str, Any]:
    """Every figure of docs/analytics.md over these requests."""
    now = as_utc(now)
    total = len(requests)
    outcomes = partition(OUTCOMES, Counter(r.outcome for r in requests), "requests started in the period")
    contained = [r for r in requests if r.outcome == "contained"]
    closed = [r for r in requests if r.state == "closed"]
    reasons = Counter(r.reason or NO_HANDOFF for r in requests)
    reason_keys = sorted((k for k in reasons if k != NO_HANDOFF), key=lambda k: (-reasons[k], k)) + [NO_HANDOFF]
    stays = [r for r in requests if r.path != "bot_only"]
    queue = [r.queue_seconds for r in stays if r.queue_seconds is not None]
    replies = [r.first_agent_reply_seconds for r in stays if r.first_agent_reply_seconds is not None]
    bot_verdicts = [helpful for r in requests if r.path == "bot_only" for _, helpful in r.verdicts]
    ratings = [r.rating for r in stays if r.rating is not None]
    contained_row = outcomes["rows"][OUTCOMES.index("contained")]
    return {
        "requests": total,
        "outcomes": outcomes,
        "containment": {"count": contained_row["count"], "of": total, "percent": contained_row["percent"],
                        "denominator": "requests started in the period"},
        "resolution": {
            "bot": partition(DURABILITY, Counter(r.durability(now) for r in contained), "contained requests"),
            "agent": partition(DURABILITY, Counter(r.durability(now) for r in closed), "requests an agent closed"),
        },
        "handoff_reasons": partition(reason_keys, reasons, "requests started in the period"),
        "queue_wait": _times(queue, len(stays) - len(queue), "stays with the humans", "not_claimed"),
        "first_agent_reply": _times(replies, len(stays) - len(replies), "stays with the humans", "no_reply"),
        "csat": {
            "bot_only": {"satisfied": sum(bot_verdicts), "responses": len(bot_verdicts),
                         "percent": _share(sum(bot_verdicts), len(bot_verdicts)),
                         "denominator": "\"was this helpful?\" verdicts in requests without a handoff"},
            "handed_off": {"satisfied": sum(1 for r in ratings if r >= SATISFIED_FROM), "responses": len(ratings),
                           "percent": _share(sum(1 for r in ratings if r >= SATISFIED_FROM), len(ratings)),
                           "average": round(sum(ratings) / len(ratings), 2) if ratings else None,
                           "denominator": "ratings of stays with the humans"},
        },
        "entries": _entries(requests),
    }


def _entries(requests: Sequence[ServiceRequest]) -> Dict[str, List[Dict[str, Any]]]:
    answered = Counter(faq_id for r in requests for faq_id in r.answers)
    helpful: Counter = Counter()
    unhelpful: Counter = Counter()
    for r in requests:
        for faq_id, verdict in r.verdicts:
            (helpful if verdict else unhelpful)[faq_id] += 1

    def entry(faq_id: str) -> Dict[str, Any]:
        verdicts = helpful[faq_id] + unhelpful[faq_id]
        return {"faq_id": faq_id, "answers": answered[faq_id], "helpful": helpful[faq_id],
                "not_helpful": unhelpful[faq_id], "not_helpful_percent": _share(unhelpful[faq_id], verdicts)}

    most_used = sorted(answered, key=lambda k: (-answered[k], k))[:TOP_ENTRIES]
    least_helpful = sorted((k for k in unhelpful if unhelpful[k]),
                           key=lambda k: (-unhelpful[k] / (helpful[k] + unhelpful[k]), -unhelpful[k], k))[:TOP_ENTRIES]
    return {"most_used": [entry(k) for k in most_used], "least_helpful": [entry(k) for k in least_helpful]}


def series(requests: Sequence[ServiceRequest], period: Period, by: str) -> List[Dict[str, Any]]:
    """The outcomes and the waits per day or per week (its Monday) of the period, empty ones too."""
    if by not in BUCKETS:
        raise ValueError(f"'by' is one of {', '.join(BUCKETS)}")
    grouped: Dict[date, List[ServiceRequest]] = defaultdict(list)
    for r in requests:
        grouped[period.bucket_of(r.started_at, by)].append(r)
    first = period.first or min(grouped, default=period.last)
    rows = []
    for bucket in period.buckets(by, first):
        these = grouped.get(bucket, [])
        counts = Counter(r.outcome for r in these)
        queue = [r.queue_seconds for r in these if r.queue_seconds is not None]
        replies = [r.first_agent_reply_seconds for r in these if r.first_agent_reply_seconds is not None]
        rows.append({"period": bucket.isoformat(), "requests": len(these), **{k: counts.get(k, 0) for k in OUTCOMES},
                     "queue_wait_p50_seconds": nearest_rank(queue, 50), "queue_wait_p90_seconds": nearest_rank(queue, 90),
                     "first_agent_reply_p50_seconds": nearest_rank(replies, 50),
                     "first_agent_reply_p90_seconds": nearest_rank(replies, 90)})
    return rows


def languages_of(requests: Sequence[ServiceRequest]) -> List[str]:
    found = {r.language_key for r in requests}
    return sorted(found - {UNKNOWN_LANGUAGE}) + ([UNKNOWN_LANGUAGE] if UNKNOWN_LANGUAGE in found else [])


def report(requests: Sequence[ServiceRequest], period: Period, now: datetime, by: str = "day") -> Dict[str, Any]:
    """The Analytics page's and `supportbot analytics`' figures: for all requests and per language, with a series
    per day or week."""
    def block(these: Sequence[ServiceRequest]) -> Dict[str, Any]:
        return {**figures(these, now), "series": series(these, period, by)}

    return {**period.describe(), "by": by, "as_of": iso(now), "definitions": DEFINITIONS, "all": block(requests),
            "languages": {language: block([r for r in requests if r.language_key == language])
                          for language in languages_of(requests)}}


def analytics(engine: Engine, period: Period, now: datetime, by: str = "day") -> Dict[str, Any]:
    return report(RequestLog(engine).requests(period, now), period, now, by)


# the export

def export_csv(requests: Iterable[ServiceRequest]) -> str:
    """A header of EXPORT_COLUMNS, then one line per request, personal data masked; empty cells for what is unknown."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for request in requests:
        row = request.row()
        writer.writerow(["" if row[column] is None else row[column] for column in EXPORT_COLUMNS])
    return out.getvalue()


def export_json(requests: Iterable[ServiceRequest], period: Period) -> str:
    return json.dumps({**period.describe(), "columns": list(EXPORT_COLUMNS), "requests": [r.row() for r in requests]},
                      ensure_ascii=False, indent=2) + "\n"


def format_seconds(seconds: Optional[float]) -> str:
    """45 s, 2 min, 2 min 5 s, 1 h, 1 h 5 min: as the console pages show durations (reports-common.js)."""
    if seconds is None:
        return "–"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min" + (f" {whole % 60} s" if whole % 60 else "")
    minutes = whole % 3600 // 60
    return f"{whole // 3600} h" + (f" {minutes} min" if minutes else "")
