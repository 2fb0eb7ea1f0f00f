"""End to end: does the whole bot (Rasa intents, the sentiment detector, the decision) hand off the
customers it should, and leave ordinary questions alone? Every message goes through a private stack
over REST, as a new conversation (messages with earlier turns get those turns first)."""
from __future__ import annotations

import json
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

from protocol.kinds import Kind
from protocol.moods import Mood
from protocol.reasons import Reason
from supportbot.eval.data import BENCH_DIR, CROSSLINGUAL_TEST, HUMAN_REQUESTS, SENTIMENT_TEST
from supportbot.eval.report import write_report
from supportbot.stack import Stack, private_settings, scratch_database, send

LANGUAGES = ("et", "ru", "en")
PERSONAL_REASONS = (Reason.HUMAN_REQUEST, Reason.UPSET, Reason.RUDE)  # handoffs a calm routine question must never get
TARGETS = {Reason.HUMAN_REQUEST: 0.95, Reason.RUDE: 0.95, Reason.UPSET: 0.85}
ROUTINE_TARGET = 0.05


def _jsonl(path: Path) -> List[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluation_sets() -> Dict[str, List[dict]]:
    sentiment = _jsonl(SENTIMENT_TEST)
    crosslingual = _jsonl(CROSSLINGUAL_TEST)
    return {
        Reason.HUMAN_REQUEST: [{"text": r["text"], "language": r["language"]} for r in _jsonl(HUMAN_REQUESTS)],
        Reason.RUDE: [r for r in sentiment if r["label"] == Mood.RUDE],
        Reason.UPSET: [r for r in sentiment if r["label"] == Mood.UPSET],
        "routine": [r for r in sentiment if r["kind"] == "routine"]
                   + [{"text": r["text"], "language": r["lang"]} for r in crosslingual if r.get("faq_id")],
    }


def handoff_reason(url: str, item: dict, token: Optional[str] = None) -> Optional[str]:
    """The reason of the first handoff in the conversation, or None if the bot did not hand off."""
    sender = f"eval-{uuid.uuid4().hex[:12]}"
    for text in [*item.get("earlier", []), item["text"]]:
        for reply in send(url, sender, text, token=token):
            custom = reply.get("custom") or {}
            if custom.get("kind") == Kind.HANDOFF:
                return custom.get("reason")
    return None


def measure(url: str, sets: Dict[str, List[dict]], workers: int = 4, token: Optional[str] = None) -> Dict[str, List[dict]]:
    outcomes: Dict[str, List[dict]] = {}
    with ThreadPoolExecutor(workers) as pool:
        for name, items in sets.items():
            reasons = list(pool.map(lambda item: handoff_reason(url, item, token), items))
            outcomes[name] = [{"language": item["language"], "reason": reason} for item, reason in zip(items, reasons)]
    return outcomes


def figures(outcomes: Dict[str, List[dict]]) -> Dict[str, Dict[str, Dict[str, float]]]:
    table: Dict[str, Dict[str, Dict[str, float]]] = defaultdict(dict)
    for name, rows in outcomes.items():
        for language in (*LANGUAGES, "all"):
            chosen = [r for r in rows if language == "all" or r["language"] == language]
            n = max(len(chosen), 1)
            table[name][language] = {
                "n": len(chosen),
                "handed_off": sum(r["reason"] is not None for r in chosen) / n,
                "same_reason": sum(r["reason"] == name for r in chosen) / n,
                "personal": sum(r["reason"] in PERSONAL_REASONS for r in chosen) / n,
            }
    return dict(table)


def _pct(value: float) -> str:
    return f"{value:.1%}"


def report_markdown(table: Dict[str, Dict[str, Dict[str, float]]]) -> str:
    lines = [
        "Every message through the whole running bot (Rasa server, action server, gateway), each as a new "
        "conversation. Held-out sets: `evalsets/handoff/human_requests.jsonl` (explicit requests for a person), "
        "the rude and upset messages of `evalsets/sentiment/test.jsonl`, and as ordinary questions its routine "
        "messages plus the answerable questions of `evalsets/crosslingual/test.jsonl`.",
        "",
        "| set | language | n | handed off | with that reason | target |",
        "|---|---|---|---|---|---|",
    ]
    for name, target in TARGETS.items():
        for language in (*LANGUAGES, "all"):
            f = table[name][language]
            met = "" if language != "all" else (f"≥ {target:.0%}: " + ("met" if f["handed_off"] >= target else "**not met**"))
            lines.append(f"| {name} | {language} | {f['n']} | {_pct(f['handed_off'])} | {_pct(f['same_reason'])} | {met} |")
    for language in (*LANGUAGES, "all"):
        f = table["routine"][language]
        met = "" if language != "all" else (f"≤ {ROUTINE_TARGET:.0%}: " + ("met" if f["personal"] <= ROUTINE_TARGET else "**not met**"))
        lines.append(f"| routine, handed off as upset/rude/human request | {language} | {f['n']} | {_pct(f['personal'])} | | {met} |")
    lines += [
        "",
        "*Handed off* counts any handoff reason (an impatient request for a person may come out as `upset`); "
        "*with that reason* only the set's own. Routine questions may still be handed off for low confidence "
        "when the demo knowledge has no answer; only the personal reasons count as wrong here.",
    ]
    return "\n".join(lines)


def main(args) -> int:
    settings = private_settings(args.settings, database_url=scratch_database(BENCH_DIR / "handoff-eval.db"))
    with Stack(settings, quiet=True):
        table = figures(measure(settings.rest_url, evaluation_sets(), token=settings.rest_api_token))
    body = report_markdown(table)
    print(body)
    if not getattr(args, "no_write", False):
        write_report({"handoff": body})
    return 0
