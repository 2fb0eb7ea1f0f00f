"""`supportbot eval`: the benchmarks. Figures are printed and written to docs/benchmarks.md.

The dispatcher imports each benchmark only when it runs: several start the whole stack or load Rasa and
TensorFlow, which a run of one other benchmark should not wait for. The benchmarks import the shared helpers
(supportbot.eval.data, supportbot.eval.report), never this dispatcher."""
from __future__ import annotations

import importlib
from typing import Dict, Tuple

from supportbot.eval.report import write_report

# name: (module, function, whether it is part of "all"); the function takes (args, report), or args alone
# when it writes its own section
BENCHMARKS: Dict[str, Tuple[str, str, bool]] = {
    "knowledge": ("knowledge", "main", True),
    "live": ("knowledge", "bench_live", True),
    "indexing": ("knowledge", "bench_indexing", True),
    "crosslingual": ("crosslingual", "bench_crosslingual", True),
    "banking77": ("crosslingual", "bench_banking77", True),
    "clinc150": ("crosslingual", "bench_clinc150", True),
    "sentiment": ("sentiment", "main", True),
    "handoff": ("handoff", "main", True),
    "latency": ("latency", "bench_latency", True),
    "load": ("load", "bench_load", False),  # about a quarter of an hour
    "profile": ("profile", "main", False),
    "fuzz": ("fuzz", "bench_fuzz", False),  # property-based fuzzing of every public route and frame
    "faults": ("faults", "bench_faults", False),  # kills and stops each process of a running stack
}
WRITES_ITS_OWN_SECTION = ("sentiment", "handoff", "profile")
CHOICES = ["all", *BENCHMARKS]


def main(args) -> int:
    report: Dict[str, str] = {}
    wanted = args.benchmark
    for name, (module_name, function_name, in_all) in BENCHMARKS.items():
        if wanted != name and not (wanted == "all" and in_all):
            continue
        run = getattr(importlib.import_module(f"supportbot.eval.{module_name}"), function_name)
        if name == "profile":
            return run(args)
        if name in WRITES_ITS_OWN_SECTION:
            run(args)
        else:
            run(args, report)
    if not args.no_write and report:
        write_report(report)
    return 0
