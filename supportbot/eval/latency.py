"""Latency of one REST round trip: this bot answering FAQ questions, side by side with the default
bot of `rasa init` (DIET + TED) on the same machine in the same run."""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from supportbot.eval.data import BENCH_DIR, CROSSLINGUAL_TEST, read_jsonl
from supportbot.stack import Stack, _wait_http, free_port, private_settings, scratch_database, send

RASA_INIT_DIR = BENCH_DIR / "rasa-init"
ROUNDS = 100


def measure(url: str, texts: Sequence[str], rounds: int = ROUNDS, token: Optional[str] = None) -> Dict[str, float]:
    for i in range(5):
        send(url, f"warmup-{i}", texts[i % len(texts)], token=token)
    timings: List[float] = []
    started = time.perf_counter()
    for i in range(rounds):
        t0 = time.perf_counter()
        send(url, f"latency-{i % 10}", texts[i % len(texts)], token=token)
        timings.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p95": timings[int(0.95 * (len(timings) - 1))],
        "per_second": rounds / elapsed,
    }


def rasa_init_bot() -> Path:
    model_dir = RASA_INIT_DIR / "models"
    if not any(model_dir.glob("*.tar.gz")):
        RASA_INIT_DIR.mkdir(parents=True, exist_ok=True)
        print("training the `rasa init` bot for comparison (once; a few minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(RASA_INIT_DIR)],
                       cwd=RASA_INIT_DIR, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sorted(model_dir.glob("*.tar.gz"))[-1]


@contextmanager
def rasa_init_server() -> Iterator[Tuple[str, subprocess.Popen]]:
    """The `rasa init` bot running on a free port, for comparison: (its REST webhook, its process)."""
    model = rasa_init_bot()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa", "run", "--model", str(model), "--port", str(port), "--interface", "127.0.0.1"],
        cwd=RASA_INIT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/webhooks/rest/", process, 240, "the rasa init bot")
        yield f"http://127.0.0.1:{port}/webhooks/rest/webhook", process
    finally:
        process.terminate()
        process.wait(timeout=30)


def bench_latency(args, report: Dict[str, str]) -> None:
    rows = read_jsonl(CROSSLINGUAL_TEST)
    faq_texts = [r["text"] for r in rows if r["faq_id"]][:60]
    # no rate limit: the benchmark sends as fast as it can on purpose
    settings = private_settings(args.settings, database_url=scratch_database(BENCH_DIR / "latency.db"), rate_limit="off")
    with Stack(settings, quiet=True) as stack:
        ours = measure(settings.rest_url, faq_texts, token=settings.rest_api_token)
        rasa_only = measure(stack.rasa_urls[0], faq_texts)
    print(f"this bot: {ours}; its Rasa server alone: {rasa_only}", flush=True)

    with rasa_init_server() as (url, _):
        theirs = measure(url, ["hello", "I am sad", "are you a bot?", "great", "goodbye", "not really"])
    print(f"rasa init bot: {theirs}", flush=True)
    report["latency"] = (
        "| bot | p50 | p95 | messages/s (one client, sequential) |\n|---|---|---|---|\n"
        f"| this bot through the gateway, FAQ questions from the cross-lingual test split (ownership check and "
        f"transcript in the database, NLU + policies + action with sentiment and retrieval) | "
        f"{ours['p50']:.1f} ms | {ours['p95']:.1f} ms | {ours['per_second']:.1f} |\n"
        f"| the same questions straight to its Rasa server (no gateway) | "
        f"{rasa_only['p50']:.1f} ms | {rasa_only['p95']:.1f} ms | {rasa_only['per_second']:.1f} |\n"
        f"| `rasa init` default bot (DIET + TED), its own smalltalk | {theirs['p50']:.1f} ms | {theirs['p95']:.1f} ms | "
        f"{theirs['per_second']:.1f} |\n\n"
        f"Ratio of p50: this bot takes {ours['p50'] / theirs['p50']:.2f}× the time of the `rasa init` bot; the "
        f"gateway adds {ours['p50'] - rasa_only['p50']:.0f} ms to its Rasa server's p50. "
        f"{ROUNDS} requests each after 5 warm-up requests, measured one after the other in one run."
    )
