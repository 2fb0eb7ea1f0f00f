"""`supportbot eval crosslingual`, `banking77` and `clinc150`: retrieval and decision benchmarks, through the
same retriever and decision module as the live bot."""
from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression

from knowledge.decision import ANSWER, CLARIFY, assess
from knowledge.index import load_index
from knowledge.indexing import build_index
from knowledge.loader import load_knowledge
from knowledge.model import Entry, KnowledgeBase
from knowledge.params import DecisionParams, decision_features
from knowledge.retriever import RetrievalResult, Retriever
from supportbot.eval.data import BENCH_DIR, CROSSLINGUAL_DIR, CachedEncoder, cached_encoder, read_jsonl, shared_dir
from supportbot.settings import DEFAULT_KNOWLEDGE_DIR


@dataclass
class Example:
    text: str
    label: Optional[str]  # entry id, or None when out of scope
    lang: str = "en"


def retriever_for(kb: KnowledgeBase, name: str, encoder: CachedEncoder) -> Retriever:
    """An index of `kb`, calibrated on its own knowledge as an editor's index is."""
    directory = BENCH_DIR / "index" / name
    build_index(kb, encoder, directory)
    return Retriever(kb, load_index(directory, kb=kb, encoder_name=encoder.name), encoder)


# ---------------------------------------------------------------- scoring


@dataclass
class Outcome:
    example: Example
    result: RetrievalResult
    action: str
    predicted: Optional[str]


def run_decisions(retriever: Retriever, examples: Sequence[Example], params: DecisionParams) -> List[Outcome]:
    results = retriever.search_many([e.text for e in examples])
    outcomes = []
    for example, result in zip(examples, results):
        verdict = assess(result, retriever.kb, params)
        outcomes.append(Outcome(example, result, verdict.action, result.top.entry_id if result.top else None))
    return outcomes


def top1(outcomes: Sequence[Outcome]) -> float:
    scoped = [o for o in outcomes if o.example.label is not None]
    return sum(o.predicted == o.example.label for o in scoped) / max(len(scoped), 1)


def decision_table(outcomes: Sequence[Outcome]) -> Dict[str, float]:
    scoped = [o for o in outcomes if o.example.label is not None]
    oos = [o for o in outcomes if o.example.label is None]
    answered = [o for o in scoped if o.action == ANSWER]
    n = max(len(scoped), 1)
    return {
        "in_scope": len(scoped),
        "top1": top1(outcomes),
        "answered_right": sum(o.predicted == o.example.label for o in answered) / n,
        "answered_wrong": sum(o.predicted != o.example.label for o in answered) / n,
        "clarified": sum(o.action == CLARIFY for o in scoped) / n,
        "clarified_with_right_option": sum(
            o.action == CLARIFY and o.example.label in [c.entry_id for c in o.result.candidates[:3]] for o in scoped
        ) / n,
        "handed_off": sum(o.action not in (ANSWER, CLARIFY) for o in scoped) / n,
        "out_of_scope": len(oos),
        "oos_answered": sum(o.action == ANSWER for o in oos) / max(len(oos), 1),
        "oos_not_answered": sum(o.action != ANSWER for o in oos) / max(len(oos), 1),
    }


# ---------------------------------------------------------------- tuning


def tune(retriever: Retriever, dev: Sequence[Example], wrong_answer_cost: float = 3.0, oos_recall_floor: float = 0.0) -> DecisionParams:
    """Fusion weights for top-1 accuracy, then a calibrated confidence and thresholds, all on `dev`."""
    cores = [retriever.search(e.text).core_text for e in dev]
    evidence = retriever.evidence(cores)
    labels = [e.label for e in dev]
    positions = {entry_id: i for i, entry_id in enumerate(retriever.entry_ids)}
    scoped = [i for i, label in enumerate(labels) if label is not None]
    gold = np.array([positions[labels[i]] for i in scoped])
    best = (-1.0, None)
    grid = np.arange(0.0, 1.01, 0.1)
    for wq in grid:
        for wa in grid:
            for wl in grid:
                wc = 1.0 - wq - wa - wl
                if wc < -1e-9:
                    continue
                fused = wq * evidence["question"] + wa * evidence["answer"] + wl * evidence["lexical"] + wc * evidence["classifier"]
                accuracy = float(np.mean(np.argmax(fused[scoped], axis=1) == gold)) if scoped else 0.0
                if accuracy > best[0] + 1e-9:
                    best = (accuracy, {"question": round(wq, 2), "answer": round(wa, 2), "lexical": round(wl, 2), "classifier": round(max(wc, 0.0), 2)})
    params = DecisionParams(fusion=best[1])
    retriever.params = params
    results = retriever.search_many([e.text for e in dev])
    X = np.array([decision_features(r) for r in results])
    y = np.array([int(e.label is not None and r.top is not None and r.top.entry_id == e.label) for e, r in zip(dev, results)])
    calibrator = LogisticRegression(C=1.0, max_iter=1000)
    if len(set(y)) > 1:
        calibrator.fit(X, y)
        params.coefficients = [round(float(c), 5) for c in calibrator.coef_[0]]
        params.intercept = round(float(calibrator.intercept_[0]), 5)
    p = np.array([params.confidence(r) for r in results])
    in_scope = np.array([e.label is not None for e in dev])
    oos = ~in_scope

    def utility(threshold: float) -> float:
        answered = p >= threshold
        right = np.sum(answered & (y == 1))
        wrong = np.sum(answered & (y == 0))
        if oos.any() and np.mean(~answered[oos]) < oos_recall_floor:
            return -1e9
        return right - wrong_answer_cost * wrong

    candidates = np.unique(np.round(np.r_[p, 0.5], 4))
    params.answer_threshold = float(max(candidates, key=utility))
    below = p < params.answer_threshold
    clarify_grid = [t for t in np.arange(0.05, params.answer_threshold, 0.05)]

    def clarify_utility(threshold: float) -> float:
        band = below & (p >= threshold)
        helpful = sum(
            1 for i in np.flatnonzero(band & in_scope)
            if dev[i].label in [c.entry_id for c in results[i].candidates[:params.clarify_options]]
        )
        return helpful - 1.5 * (np.sum(band) - helpful)

    params.clarify_threshold = float(max(clarify_grid, key=clarify_utility)) if clarify_grid else params.answer_threshold
    handed = p < params.clarify_threshold
    best_oos = (-1.0, params.clarify_threshold / 2)
    for t in np.arange(0.0, params.clarify_threshold + 1e-9, 0.01):
        correct = np.sum(handed & oos & (p < t)) + np.sum(handed & in_scope & (p >= t))
        if correct > best_oos[0]:
            best_oos = (correct, float(t))
    params.out_of_scope_threshold = round(best_oos[1], 4)
    params.answer_threshold = round(params.answer_threshold, 4)
    params.clarify_threshold = round(params.clarify_threshold, 4)
    return params


# ---------------------------------------------------------------- data sets


def crosslingual_split(name: str) -> List[Example]:
    return [Example(r["text"], r["faq_id"], r["lang"]) for r in read_jsonl(CROSSLINGUAL_DIR / f"{name}.jsonl")]


def labelled_kb(name: str, rows: Iterable[Tuple[str, str]]) -> KnowledgeBase:
    by_label: Dict[str, List[str]] = defaultdict(list)
    for text, label in rows:
        by_label[label].append(text)
    entries = [
        Entry(id=label, topic=name, questions={"en": tuple(texts)}, answer={"en": label.replace("_", " ")})
        for label, texts in sorted(by_label.items())
    ]
    return KnowledgeBase(directory=name, entries=entries)


# ---------------------------------------------------------------- benchmarks


def bench_crosslingual(args, report: Dict[str, str]) -> None:
    encoder = cached_encoder(args.settings.encoder)
    kb = load_knowledge(DEFAULT_KNOWLEDGE_DIR)  # the held-out split is the demo's
    retriever = retriever_for(kb, "demo", encoder)
    params = retriever.params
    test = crosslingual_split("test")
    outcomes = run_decisions(retriever, test, params)
    encoder.save()
    lines = [
        "| language | in-scope | top-1 | answered right | answered wrong | clarified (right option offered) | handed off | out-of-scope | OOS answered (error) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = [("en", lambda o: o.example.lang == "en"), ("ru", lambda o: o.example.lang == "ru"),
              ("ru, Latin letters", lambda o: o.example.lang == "ru" and o.result.language.latin_russian),
              ("et", lambda o: o.example.lang == "et"), ("all", lambda o: True)]
    for name, keep in groups:
        t = decision_table([o for o in outcomes if keep(o)])
        lines.append(
            f"| {name} | {t['in_scope']} | {t['top1']:.1%} | {t['answered_right']:.1%} | {t['answered_wrong']:.1%} | "
            f"{t['clarified']:.1%} ({t['clarified_with_right_option']:.1%}) | {t['handed_off']:.1%} | {t['out_of_scope']} | {t['oos_answered']:.1%} |"
        )
    detected = Counter((o.example.lang, o.result.language.code) for o in outcomes)
    language_accuracy = sum(v for (a, b), v in detected.items() if a == b) / len(outcomes)
    body = "\n".join(lines) + (
        f"\n\nLanguage detected right for {language_accuracy:.1%} of the test messages. "
        f"Fusion weights {params.fusion}; thresholds answer ≥ {params.answer_threshold}, clarify ≥ {params.clarify_threshold}, "
        f"out-of-scope < {params.out_of_scope_threshold} on the calibrated confidence (tuned on {params.tuned_on})."
    )
    report["crosslingual"] = body
    print(body)


def bench_banking77(args, report: Dict[str, str]) -> None:
    root = shared_dir(args)
    if root is None:
        print("banking77: skipped, ../shared/benchmarks is not there (give --shared)")
        return
    encoder = cached_encoder(args.settings.encoder)

    def read_csv(path: Path) -> List[Tuple[str, str]]:
        with open(path, encoding="utf-8") as f:
            return [(row["text"], row["category"]) for row in csv.DictReader(f)]

    train, test = read_csv(root / "banking77" / "train.csv"), read_csv(root / "banking77" / "test.csv")
    ten_shot = [(r["text"], r["label"]) for r in read_jsonl(root / "banking77_fsid" / "train_10.jsonl")]
    examples = [Example(t, l) for t, l in test]
    lines = ["| training data | entries | question variants | top-1 on test (3,080) |", "|---|---|---|---|"]
    for name, rows in (("full train split", train), ("10-shot (banking77_fsid/train_10)", ten_shot)):
        kb = labelled_kb("banking77", rows)
        retriever = retriever_for(kb, f"banking77-{len(rows)}", encoder)
        accuracy = top1(run_decisions(retriever, examples, retriever.params))
        lines.append(f"| {name} | {len(kb)} | {len(rows)} | {accuracy:.2%} |")
        print(lines[-1], flush=True)
    encoder.save()
    report["banking77"] = "\n".join(lines)


def bench_clinc150(args, report: Dict[str, str]) -> None:
    root = shared_dir(args)
    if root is None:
        print("clinc150: skipped, ../shared/benchmarks is not there (give --shared)")
        return
    data = json.loads((root / "clinc150" / "data_full.json").read_text())
    encoder = cached_encoder(args.settings.encoder)
    kb = labelled_kb("clinc150", [(t, l) for t, l in data["train"]])
    retriever = retriever_for(kb, "clinc150", encoder)
    val = [Example(t, l) for t, l in data["val"]] + [Example(t, None) for t, _ in data["oos_val"]]
    params = tune(retriever, val, wrong_answer_cost=1.0)
    test = [Example(t, l) for t, l in data["test"]] + [Example(t, None) for t, _ in data["oos_test"]]
    outcomes = run_decisions(retriever, test, params)
    encoder.save()
    scoped = [o for o in outcomes if o.example.label is not None]
    oos = [o for o in outcomes if o.example.label is None]
    in_scope_accuracy = sum(o.action == ANSWER and o.predicted == o.example.label for o in scoped) / len(scoped)
    oos_recall = sum(o.action != ANSWER for o in oos) / len(oos)
    body = (
        "| top-1 (no abstaining) | in-scope accuracy | out-of-scope recall |\n|---|---|---|\n"
        f"| {top1(outcomes):.2%} | {in_scope_accuracy:.2%} | {oos_recall:.2%} |\n\n"
        f"Thresholds chosen on the validation split (val + oos_val): answer ≥ {params.answer_threshold} on the calibrated "
        f"confidence; a clarify or a handoff counts as predicting out-of-scope."
    )
    report["clinc150"] = body
    print(body)
