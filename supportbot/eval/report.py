"""docs/benchmarks.md: one section per benchmark, each replaced when its benchmark runs again."""
from __future__ import annotations

import sys
import time
from typing import Dict

from supportbot.settings import PROJECT_ROOT

REPORT = PROJECT_ROOT / "docs" / "benchmarks.md"

SECTIONS = {
    "knowledge": ("Answers on knowledge bases the parameters never saw", "supportbot eval knowledge"),
    "indexing": ("Index build time (about 300 entries)", "supportbot eval indexing"),
    "knowledge_live": ("Foreign knowledge bases end to end, through the whole bot", "supportbot eval live"),
    "crosslingual": ("Cross-lingual FAQ retrieval (demo knowledge, project-written test split)", "supportbot eval crosslingual"),
    "banking77": ("Banking77", "supportbot eval banking77"),
    "clinc150": ("CLINC150 (data_full.json)", "supportbot eval clinc150"),
    "latency": ("Latency of one REST round trip", "supportbot eval latency"),
    "load": ("Under load: concurrent conversations through the whole stack", "supportbot eval load"),
    "fuzz": ("Fuzzing every public route and frame", "supportbot eval fuzz"),
    "faults": ("Faults: each process killed or stopped in the middle of conversations", "supportbot eval faults"),
    "sentiment": ("Upset and rude customers (signals/sentiment/)", "supportbot eval sentiment"),
    "handoff": ("Handoff triggers end to end (human requests, rude, upset, routine questions)", "supportbot eval handoff"),
}


def write_report(report: Dict[str, str]) -> None:
    """Replace the measured sections in docs/benchmarks.md, keeping the others."""
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else "# Benchmarks\n"
    for key, body in report.items():
        title, command = SECTIONS[key]
        start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
        block = (
            f"{start}\n## {title}\n\nReproduce: `{command}` (measured {time.strftime('%Y-%m-%d')}, "
            f"{sys.platform}, 2 cores)\n\n{body}\n{end}"
        )
        if start in text and end in text:
            text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text, encoding="utf-8")
