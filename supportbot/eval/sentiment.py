"""`supportbot eval sentiment`: the upset/rude detector of signals/sentiment/ on the project's held-out
test split (evalsets/sentiment/test.jsonl) and on public sets read from ../shared/benchmarks.

"Flagged" means the detector said upset or rude, i.e. the conversation would go to a person.
Nothing is tuned here: the detector's thresholds come from signals/data/sentiment/dev.jsonl.
"""
from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from knowledge.encoders import load_encoder
from protocol.moods import Mood
from signals.sentiment.cues import CUE_NAMES
from signals.sentiment.detector import SentimentDetector
from signals.sentiment.fitting import (
    DEV_FILE, LABELS, TRAIN_FILES, Example, SentimentModel, dev_objective, fit_model, load_examples,
)
from supportbot.eval.data import CROSSLINGUAL_TEST, DEFAULT_SHARED, SENTIMENT_TEST, cached_encoder
from supportbot.eval.report import write_report
from supportbot.settings import Settings

TEST_FILE = SENTIMENT_TEST
LANGUAGES = ("et", "ru", "en")
TARGETS = {"rude_recall": 0.95, "upset_recall": 0.85, "routine_flagged": 0.05}
VALENCE_SEED, VALENCE_TEST_SHARE = 13, 0.3
PUBLIC_WEIGHT = 0.5  # weight of a public example next to a project example, when public data is added


# ---------------------------------------------------------------- the project's test split


def project_figures(detector: SentimentDetector, examples: Sequence[Example]) -> Dict[str, Dict[str, float]]:
    predicted = [s.label for s in detector.assess_many([e.text for e in examples], [e.earlier for e in examples])]
    figures = {}
    for language in (*LANGUAGES, "all"):
        chosen = [(e, p) for e, p in zip(examples, predicted) if language in ("all", e.language)]
        figures[language] = split_figures([e for e, _ in chosen], [p for _, p in chosen])
    return figures


def split_figures(examples: Sequence[Example], predicted: Sequence[str]) -> Dict[str, float]:
    pairs = list(zip(examples, predicted))

    def share(keep: Callable[[Example, str], bool], hit: Callable[[Example, str], bool]) -> float:
        chosen = [(e, p) for e, p in pairs if keep(e, p)]
        return sum(hit(e, p) for e, p in chosen) / len(chosen) if chosen else float("nan")

    return {
        "n": len(pairs),
        "rude_recall": share(lambda e, p: e.label == Mood.RUDE, lambda e, p: p == Mood.RUDE),
        "rude_precision": share(lambda e, p: p == Mood.RUDE, lambda e, p: e.label == Mood.RUDE),
        "upset_recall": share(lambda e, p: e.label == Mood.UPSET, lambda e, p: p == Mood.UPSET),
        "upset_precision": share(lambda e, p: p == Mood.UPSET, lambda e, p: e.label == Mood.UPSET),
        "upset_flagged": share(lambda e, p: e.label == Mood.UPSET, lambda e, p: p != Mood.CALM),
        "context_recall": share(lambda e, p: e.kind == "upset_context", lambda e, p: p == Mood.UPSET),
        "routine_flagged": share(lambda e, p: e.kind == "routine", lambda e, p: p != Mood.CALM),
        "calm_flagged": share(lambda e, p: e.label == Mood.CALM, lambda e, p: p != Mood.CALM),
    }


def latency_ms(detector: SentimentDetector, examples: Sequence[Example], rounds: int = 3,
               calls: int = 100) -> Dict[str, float]:
    """One message at a time, after warm-up; of several rounds the least disturbed (lowest median) is kept,
    since other processes on the machine can stall a round."""
    for example in examples[:5]:
        detector.assess(example.text, example.language)
    texts = (list(examples) * (calls // max(len(examples), 1) + 1))[:calls]
    best: Dict[str, float] = {}
    for _ in range(rounds):
        timings = []
        for example in texts:
            started = time.perf_counter()
            detector.assess(example.text, example.language, example.earlier)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        measured = {"p50": statistics.median(timings), "p95": timings[int(0.95 * (len(timings) - 1))]}
        if not best or measured["p50"] < best["p50"]:
            best = measured
    return best


# ---------------------------------------------------------------- public sets


@dataclass
class PublicSet:
    name: str
    language: str
    positive: str  # what the positive class is
    split: str
    texts: List[str]
    positives: List[bool]


def _jsonl(path: Path) -> List[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _valence_split(root: Path) -> Tuple[List[dict], List[dict]]:
    rows = _jsonl(root / "estonian_valence" / "all.jsonl")
    order = list(range(len(rows)))
    random.Random(VALENCE_SEED).shuffle(order)
    cut = int(len(rows) * VALENCE_TEST_SHARE)
    return [rows[i] for i in order[cut:]], [rows[i] for i in order[:cut]]  # train, test


def public_test_sets(root: Path) -> List[PublicSet]:
    sets = []
    cedr = _jsonl(root / "cedr" / "test.jsonl")
    sets.append(PublicSet("CEDR", "ru", "anger", "test",
                          [r["text"] for r in cedr], ["anger" in r["labels"] for r in cedr]))
    detox = _jsonl(root / "ru_paradetox" / "dev_binary.jsonl")
    sets.append(PublicSet("RuParaDetox", "ru", "toxic", "dev (no test split published)",
                          [r["text"] for r in detox], [r["label"] == "toxic" for r in detox]))
    offensive = _jsonl(root / "tweeteval_offensive" / "test.jsonl")
    sets.append(PublicSet("TweetEval offensive", "en", "offensive", "test",
                          [r["text"] for r in offensive], [r["label"] == "offensive" for r in offensive]))
    _, valence = _valence_split(root)
    sets.append(PublicSet("Estonian valence", "et", "negatiivne",
                          f"{VALENCE_TEST_SHARE:.0%} held out (seed {VALENCE_SEED})",
                          [r["text"] for r in valence], [r["label"] == "negatiivne" for r in valence]))
    emotions = _jsonl(root / "goemotions_en_ru" / "test.jsonl")
    angry = [bool({"anger", "annoyance"} & set(r["labels"])) for r in emotions]
    sets.append(PublicSet("GoEmotions", "en", "anger or annoyance", "test", [r["text_en"] for r in emotions], angry))
    sets.append(PublicSet("GoEmotions (machine-translated)", "ru", "anger or annoyance", "test",
                          [r["text_ru_mt"] for r in emotions], angry))
    return sets


def public_figures(detector: SentimentDetector, sets: Sequence[PublicSet]) -> List[Dict[str, object]]:
    rows = []
    for public in sets:
        labels = [s.label for s in detector.assess_many(public.texts)]
        rows.append({"name": public.name, "language": public.language, "positive": public.positive,
                     "split": public.split, **flag_scores(public.positives, labels)})
    return rows


def flag_scores(positives: Sequence[bool], labels: Sequence[str]) -> Dict[str, float]:
    flagged = np.array([label != Mood.CALM for label in labels])
    truth = np.array(positives, dtype=bool)
    true_positives = int((flagged & truth).sum())
    precision = true_positives / max(int(flagged.sum()), 1)
    recall = true_positives / max(int(truth.sum()), 1)
    return {
        "n": len(labels),
        "positives": int(truth.sum()),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "negatives_flagged": int((flagged & ~truth).sum()) / max(int((~truth).sum()), 1),
        "positives_rude": sum(p and l == Mood.RUDE for p, l in zip(positives, labels)) / max(int(truth.sum()), 1),
    }


# ---------------------------------------------------------------- public data in training?


def public_training_examples(root: Path, include_anger: bool, per_class: int = 500, seed: int = 7) -> List[Example]:
    """Train/validation rows only, relabelled into the detector's classes."""
    rng = random.Random(seed)

    def sample(rows: list, n: int = per_class) -> list:
        return rng.sample(rows, min(n, len(rows)))

    examples = []
    pairs = sample([r for r in _jsonl(root / "ru_paradetox" / "train_pairs.jsonl") if r["neutral"]])
    examples += [Example(r["toxic"], "ru", Mood.RUDE, "public") for r in pairs]
    examples += [Example(r["neutral"][0], "ru", Mood.CALM, "public") for r in pairs]
    offensive = _jsonl(root / "tweeteval_offensive" / "train.jsonl")
    for label, rows in ((Mood.RUDE, [r for r in offensive if r["label"] == "offensive"]),
                        (Mood.CALM, [r for r in offensive if r["label"] != "offensive"])):
        examples += [Example(r["text"], "en", label, "public") for r in sample(rows)]
    if include_anger:
        cedr = _jsonl(root / "cedr" / "train.jsonl")
        for label, rows in ((Mood.UPSET, [r for r in cedr if "anger" in r["labels"]]),
                            (Mood.CALM, [r for r in cedr if not r["labels"]])):
            examples += [Example(r["text"], "ru", label, "public") for r in sample(rows)]
        emotions = _jsonl(root / "goemotions_en_ru" / "validation.jsonl")
        angry = [r for r in emotions if {"anger", "annoyance"} & set(r["labels"])]
        neutral = [r for r in emotions if r["labels"] == ["neutral"]]
        examples += [Example(r["text_en"], "en", Mood.UPSET, "public") for r in sample(angry, per_class // 2)]
        examples += [Example(r["text_ru_mt"], "ru", Mood.UPSET, "public") for r in sample(angry, per_class // 2)]
        examples += [Example(r["text_en"], "en", Mood.CALM, "public") for r in sample(neutral, per_class // 2)]
        valence, _ = _valence_split(root)
        for label, rows in ((Mood.UPSET, [r for r in valence if r["label"] == "negatiivne"]),
                            (Mood.CALM, [r for r in valence if r["label"] != "negatiivne"])):
            examples += [Example(r["text"], "et", label, "public") for r in sample(rows)]
    return examples


def training_comparison(detector: SentimentDetector, root: Path, sets: Sequence[PublicSet]) -> List[Dict[str, object]]:
    """The shipped model (project data only) against the same model with public train data added."""
    project = [e for f in TRAIN_FILES for e in load_examples(f)]
    dev = load_examples(DEV_FILE)
    variants = [("project data only (shipped)", detector.model)]
    for name, include_anger in (("+ public toxic (RuParaDetox, TweetEval)", False),
                                ("+ public toxic and anger/negative (+ CEDR, GoEmotions val, et valence)", True)):
        public = public_training_examples(root, include_anger)
        weights = np.array([1.0] * len(project) + [PUBLIC_WEIGHT] * len(public))
        variants.append((name, fit_model(project + public, dev, detector.encoder, detector.lexicon, weights)))
    rows = []
    for name, model in variants:
        rows.append({"variant": name, "dev": model.dev_report, "dev_score": dev_objective(model.dev_report),
                     "public_f1": {s["name"]: s["f1"] for s in public_figures(_with_model(detector, model), sets)}})
    return rows


def _with_model(detector: SentimentDetector, model: SentimentModel) -> SentimentDetector:
    return SentimentDetector(encoder=detector.encoder, model=model)


# ---------------------------------------------------------------- the whole evaluation


def faq_questions_flagged(detector: SentimentDetector) -> Dict[str, Dict[str, float]]:
    """Share of the FAQ evaluation's held-out questions (ordinary, not upset) that would be handed off."""
    rows = _jsonl(CROSSLINGUAL_TEST)
    labels = [s.label for s in detector.assess_many([r["text"] for r in rows])]
    figures = {}
    for name, in_scope in (("answerable", True), ("out_of_scope", False)):
        chosen = [label for row, label in zip(rows, labels) if bool(row.get("faq_id")) == in_scope]
        figures[name] = {"n": len(chosen), "flagged": sum(label != Mood.CALM for label in chosen) / max(len(chosen), 1)}
    return figures


def evaluate_sentiment(settings: Settings, shared: Optional[Path] = None, compare_public_training: bool = True) -> dict:
    encoder = cached_encoder(settings.encoder)
    detector = SentimentDetector(encoder=encoder, model_dir=settings.model_dir)
    test = load_examples(TEST_FILE)
    results: dict = {
        "encoder": encoder.name,
        "thresholds": vars(detector.model.thresholds),
        "dev": detector.model.dev_report,
        "train_size": sum(len(load_examples(f)) for f in TRAIN_FILES),
        "test_counts": {lang: {label: sum(e.language == lang and e.label == label for e in test) for label in LABELS}
                        for lang in LANGUAGES},
        "project": project_figures(detector, test),
        "latency_ms": latency_ms(SentimentDetector(encoder=load_encoder(settings.encoder), model_dir=settings.model_dir), test),
        "public": None,
        "training_comparison": None,
        "faq_questions_flagged": faq_questions_flagged(detector),
    }
    root = Path(shared) if shared else DEFAULT_SHARED
    if root.is_dir():
        sets = public_test_sets(root)
        results["public"] = public_figures(detector, sets)
        if compare_public_training:
            results["training_comparison"] = training_comparison(detector, root, sets)
    else:
        results["public_skipped"] = f"{root} is not there: public sets skipped"
    encoder.save()
    return results


# ---------------------------------------------------------------- the report


def _pct(value: float) -> str:
    return "–" if value != value else f"{value:.1%}"


def _met(value: float, key: str) -> str:
    target = TARGETS[key]
    ok = value <= target if key == "routine_flagged" else value >= target
    return "yes" if ok else "**no**"


def report_markdown(results: dict) -> str:
    project = results["project"]
    overall = project["all"]
    lines = [
        "Project test split (`evalsets/sentiment/test.jsonl`, written independently of train/dev; "
        f"{overall['n']} messages: " + ", ".join(
            f"{lang} {sum(c.values())} ({'/'.join(str(c[l]) for l in LABELS)} calm/upset/rude)"
            for lang, c in results["test_counts"].items()) + "). "
        "Recall and precision are of the exact label; *flagged* = upset or rude (a handoff).",
        "",
        "| language | rude recall | rude precision | upset recall | upset precision | upset flagged | "
        "upset from context | routine flagged | all calm flagged |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for language, f in project.items():
        lines.append(
            f"| {language} | {_pct(f['rude_recall'])} | {_pct(f['rude_precision'])} | {_pct(f['upset_recall'])} | "
            f"{_pct(f['upset_precision'])} | {_pct(f['upset_flagged'])} | {_pct(f['context_recall'])} | "
            f"{_pct(f['routine_flagged'])} | {_pct(f['calm_flagged'])} |"
        )
    lines += [
        "",
        "| target (all languages) | measured | met? |",
        "|---|---|---|",
        f"| rude recall ≥ 95 % | {_pct(overall['rude_recall'])} | {_met(overall['rude_recall'], 'rude_recall')} |",
        f"| upset recall ≥ 85 % | {_pct(overall['upset_recall'])} | {_met(overall['upset_recall'], 'upset_recall')} |",
        f"| routine questions flagged ≤ 5 % | {_pct(overall['routine_flagged'])} | "
        f"{_met(overall['routine_flagged'], 'routine_flagged')} |",
        "",
    ]
    faq = results.get("faq_questions_flagged")
    if faq:
        lines += [
            "The FAQ evaluation's held-out questions (`evalsets/crosslingual/test.jsonl`, ordinary questions in "
            "et, ru and en, none written as complaints) flagged as upset or rude: "
            f"{_pct(faq['answerable']['flagged'])} of {faq['answerable']['n']} answerable ones and "
            f"{_pct(faq['out_of_scope']['flagged'])} of {faq['out_of_scope']['n']} out-of-scope ones.",
            "",
        ]
    per_language_misses = [
        f"{lang} {key.replace('_', ' ')} {_pct(project[lang][key])}"
        for lang in LANGUAGES for key in TARGETS if _met(project[lang][key], key) != "yes"
    ]
    if per_language_misses:
        lines += ["Per language, below target: " + "; ".join(per_language_misses) + ".", ""]
    t, dev = results["thresholds"], results["dev"]
    lines += [
        f"Model: one logistic regression over the {results['encoder']} embedding of the message and "
        f"{len(CUE_NAMES)} cues ({', '.join(CUE_NAMES)}), fitted on {results['train_size']} project-written "
        f"train messages; thresholds tuned on `signals/data/sentiment/dev.jsonl` plus the demo knowledge base's "
        f"example questions as ordinary ones: rude if P(rude) ≥ {t['rude']} with a rude word in the message or "
        f"≥ {t.get('rude_unmarked', 1.0)} without one, "
        f"else flagged (upset) if P(upset) + P(rude) ≥ {t['flag']} (dev: rude recall {_pct(dev['rude_recall'])}, upset "
        f"recall {_pct(dev['upset_recall'])}, routine flagged {_pct(dev['routine_flagged'])}). "
        f"`assess` takes {results['latency_ms']['p50']:.1f} ms (p50), {results['latency_ms']['p95']:.1f} ms (p95) "
        "per message after warm-up, one embedding included (test-split messages one at a time with their earlier "
        "messages; the least disturbed of 3 rounds of 100 calls).",
        "",
    ]
    if results.get("public"):
        lines += [
            "Public sets: the same detector, unchanged (the flagged decision against each set's positive class; "
            "none of these are support chats).",
            "",
            "| set | language | positive class | split | n (positives) | precision | recall | F1 | "
            "negatives flagged | positives called rude |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results["public"]:
            lines.append(
                f"| {r['name']} | {r['language']} | {r['positive']} | {r['split']} | {r['n']} ({r['positives']}) | "
                f"{_pct(r['precision'])} | {_pct(r['recall'])} | {_pct(r['f1'])} | {_pct(r['negatives_flagged'])} | "
                f"{_pct(r['positives_rude'])} |"
            )
        lines.append("")
    else:
        lines += [results.get("public_skipped", "Public sets skipped."), ""]
    if results.get("training_comparison"):
        names = [s["name"] for s in results["public"]]
        lines += [
            f"Public train data in the fit? Each variant refitted and re-tuned on the same dev split (public rows "
            f"weighted {PUBLIC_WEIGHT}); dev score = rude + upset recall − 6 × routine flagged − 2 × calm flagged. "
            "The shipped model is fitted on project data only whatever this table says: it is fitted where the "
            "bot runs, where the public sets are not (and may not be) present.",
            "",
            "| training data | dev rude recall | dev upset recall | dev routine flagged | dev score | "
            + " | ".join(f"F1 {n}" for n in names) + " |",
            "|---|---|---|---|---|" + "---|" * len(names),
        ]
        for row in results["training_comparison"]:
            d = row["dev"]
            lines.append(
                f"| {row['variant']} | {_pct(d['rude_recall'])} | {_pct(d['upset_recall'])} | "
                f"{_pct(d['routine_flagged'])} | {row['dev_score']:.3f} | "
                + " | ".join(_pct(row["public_f1"][n]) for n in names) + " |"
            )
        lines.append("")
    lines += ["**What this shows and what it does not.** " + assessment(results), "", CAVEATS]
    return "\n".join(lines).rstrip() + "\n"


CAVEATS = (
    "Caveats. The project split is written by the same team as train and dev, with the same scenarios in the "
    "three languages, so real chats are likely to score lower than this table. The test split was kept out of "
    "fitting and tuning, but it was looked at during development: one cue definition was changed after a first "
    "run (\"twice\" / \"дважды\" / \"kaks korda\" no longer count as repetition, since \"charged twice\" is a "
    "routine billing question). The live tests then showed short calm questions (\"unustasin parooli\", "
    "\"tell me a joke\") labelled rude on a small rude probability; since then a message without a rude word "
    "needs a much higher rude probability (`rude_unmarked`), and the thresholds are tuned on the dev split "
    "together with the example questions of the demo knowledge base as ordinary questions. The conversation tests "
    "of the politeness rules then showed two more false alarms, both fixed in the model, not in the tests: a "
    "routine complaint in the fourth turn of a conversation came out upset because one cue counted the earlier "
    "turns (the cue is gone), and \"that didn't help\" came out upset (such feedback messages are now calm "
    "examples in train, since the didn't-help flow answers them). The public sets are "
    "not support chats: on news, literature, tweets and Reddit comments the detector flags a fifth to a third "
    "of the negatives of the Russian and English sets, and it misses most negative Estonian news sentences, "
    "which are not upset customers. RuParaDetox publishes no test split, so its dev split stands in (nothing "
    "was tuned on it). Adding public train data raised the F1 on most public sets but lowered upset and rude "
    "recall on the project's dev split, so the shipped model is fitted on project data only."
)


def assessment(results: dict) -> str:
    overall = results["project"]["all"]
    met = [key for key in TARGETS if _met(overall[key], key) == "yes"]
    missed = [key for key in TARGETS if key not in met]
    per_language = [
        f"{lang} {key.replace('_', ' ')}" for lang in LANGUAGES for key in TARGETS
        if _met(results["project"][lang][key], key) != "yes"
    ]
    text = (
        f"On the project's test split {len(met)} of {len(TARGETS)} targets are met for all languages together"
        + (f" (missed: {', '.join(k.replace('_', ' ') for k in missed)})" if missed else "")
        + (f"; per language these fall short: {', '.join(per_language)}." if per_language
           else ", and each language meets all three on its own.")
    )
    calm = max(results["project"][lang]["calm_flagged"] for lang in LANGUAGES)
    text += (
        f" Precision: {_pct(overall['rude_precision'])} of rude labels and "
        f"{_pct(overall['upset_precision'])} of upset labels are right, and at most {_pct(calm)} of the calm "
        f"messages of any language (routine questions, requests for a person, small talk) would be handed off."
    )
    return text


def main(args) -> int:
    results = evaluate_sentiment(args.settings, Path(args.shared) if getattr(args, "shared", None) else None)
    body = report_markdown(results)
    print(body)
    if not getattr(args, "no_write", False):
        write_report({"sentiment": body})
    return 0
