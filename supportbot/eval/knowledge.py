"""`supportbot eval knowledge`: how the bot does on knowledge bases it was not tuned on.

Every knowledge base under evalsets/knowledge/<name>/ (knowledge/ plus test.jsonl, written by someone who saw
only the answers), the demo with its test split, and sparse variants of the demo (languages and variants
dropped). Each is indexed and calibrated on its own knowledge, as an editor's would be. The few global choices
of the calibration (CalibrationSettings) are picked leave-one-knowledge-base-out: the figures of a knowledge base
come from the settings that did best on the others, so no reported figure was tuned on its own knowledge base."""
from __future__ import annotations

import asyncio
import json
import logging
import random
import shutil
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import yaml
from threadpoolctl import threadpool_limits

from signals.person_request import asks_for_person
from signals.sentiment.detector import SentimentDetector
from knowledge.calibration import CalibrationData, CalibrationSettings, collect, fit, fused_features, negative_texts
from knowledge.decision import ANSWER, CLARIFY, HANDOFF
from knowledge.encoders import load_encoder
from knowledge.index import load_index
from knowledge.indexing import build_index
from knowledge.loader import load_knowledge
from knowledge.params import DecisionParams
from knowledge.retriever import MASKED, Retriever
from knowledge.text import fold_for_matching, is_pleasantry_only, normalize_query, strip_pleasantries
from policy.decide import KNOWLEDGE_OVER_SMALLTALK_WORDS
from protocol.kinds import Kind
from protocol.moods import Mood
from protocol.reasons import Reason
from supportbot.eval.data import BENCH_DIR, CROSSLINGUAL_TEST, KNOWLEDGE_SETS, cached_encoder, read_jsonl
from supportbot.settings import DEFAULT_KNOWLEDGE_DIR, Settings
from supportbot.stack import Stack, ensure_model, private_settings, scratch_database, send

# what a test message of a knowledge set expects besides an entry id (evalsets/knowledge/*/messages.jsonl)
SIGNALS = ("upset", "rude", "human")
OUT_OF_SCOPE = "out_of_scope"


@dataclass
class TestMessage:
    text: str
    lang: str
    expect: str  # an entry id, out_of_scope, upset, rude or human


@dataclass
class KnowledgeSet:
    name: str
    family: str  # sets derived from one knowledge base are left out together
    knowledge_dir: Path
    messages: List[TestMessage]
    description: str = ""


@dataclass
class Prepared:
    """One knowledge set, indexed, with its own calibration data and the evidence for its test messages."""

    kset: KnowledgeSet
    retriever: Retriever
    calibration: Dict[str, CalibrationData]  # by CalibrationSettings.hide
    faq: List[TestMessage]
    evidence: Dict[str, np.ndarray]
    nearest: np.ndarray
    gold: np.ndarray
    languages: List[str]
    pleasantry: np.ndarray
    cache: Dict[CalibrationSettings, DecisionParams] = field(default_factory=dict)

    def params(self, settings: CalibrationSettings) -> DecisionParams:
        if settings not in self.cache:
            self.cache[settings] = fit(self.calibration[settings.hide], settings, entry_count=len(self.retriever.kb))
        return self.cache[settings]


# ---------------------------------------------------------------- the sets


def discover_sets(include_sparse: int = 2) -> List[KnowledgeSet]:
    sets = []
    for folder in sorted(p for p in KNOWLEDGE_SETS.iterdir() if p.is_dir()) if KNOWLEDGE_SETS.is_dir() else []:
        test = folder / "test.jsonl"
        if (folder / "knowledge").is_dir() and test.exists():
            messages = [TestMessage(r["text"], r["lang"], r["expect"]) for r in read_jsonl(test)]
            about = folder / "README.md"
            sets.append(KnowledgeSet(folder.name, folder.name, folder / "knowledge", messages,
                                     about.read_text(encoding="utf-8").strip().splitlines()[0] if about.exists() else ""))
    demo_messages = [TestMessage(r["text"], r["lang"], r["faq_id"] or OUT_OF_SCOPE)
                     for r in read_jsonl(CROSSLINGUAL_TEST)]
    demo_dir = DEFAULT_KNOWLEDGE_DIR
    sets.append(KnowledgeSet("demo", "demo", demo_dir, demo_messages, "the shipped demo"))
    for seed in range(1, include_sparse + 1):
        sparse_dir = BENCH_DIR / "sparse" / f"demo-sparse-{seed}"
        write_sparse_variant(demo_dir, sparse_dir, seed)
        sets.append(KnowledgeSet(f"demo-sparse-{seed}", "demo", sparse_dir, demo_messages, "the demo, thinned"))
    return sets


def write_sparse_variant(source: Path, target: Path, seed: int) -> None:
    """The demo as an editor in a hurry would write it: per entry, questions in English only, in Estonian and
    Russian only, or in all three (a third each), 2 to 5 variants per language; a sixth of the entries lose
    the answers in one or two languages."""
    rng = random.Random(seed)
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.yml"):
        old.unlink()
    patterns = [("en",), ("et", "ru"), ("en", "et", "ru")]
    for path in sorted(source.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry in data.get("entries", []):
            keep = rng.choice(patterns)
            entry["questions"] = {lang: rng.sample(qs, min(len(qs), rng.randint(2, 5)))
                                  for lang, qs in entry.get("questions", {}).items() if lang in keep}
            if rng.random() < 1 / 6 and len(entry["answer"]) > 1:
                kept = rng.sample(sorted(entry["answer"]), rng.randint(1, len(entry["answer"]) - 1))
                entry["answer"] = {lang: entry["answer"][lang] for lang in kept}
        (target / path.name).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


# ---------------------------------------------------------------- scoring


def prepare(kset: KnowledgeSet, encoder) -> Prepared:
    kb = load_knowledge(kset.knowledge_dir)
    directory = BENCH_DIR / "index" / f"knowledge-{kset.name}"
    shutil.rmtree(directory, ignore_errors=True)  # from scratch: a classifier refitted from a previous run's differs
    build_index(kb, encoder, directory, params=DecisionParams())
    retriever = Retriever(kb, load_index(directory, kb=kb, encoder_name=encoder.name), encoder)
    negatives = negative_texts()
    negative_vectors = encoder.encode_queries(negatives)
    calibration = {hide: collect(retriever, negatives, negative_vectors, CalibrationSettings(hide=hide))
                   for hide in HIDE_CHOICES}
    faq = [m for m in kset.messages if m.expect not in SIGNALS]
    normalised = [normalize_query(m.text) for m in faq]
    cores = [core for core, _ in normalised]
    evidence = retriever.evidence_from(encoder.encode_queries(cores), [fold_for_matching(c) for c in cores])
    dense = evidence["_dense"][:, retriever._question_rows]
    order = np.argsort(-dense, axis=1)[:, :5]
    nearest = np.where(np.take_along_axis(dense, order, axis=1) > MASKED,
                       retriever._row_entry[retriever._question_rows][order], -1)
    position = {entry_id: i for i, entry_id in enumerate(retriever.entry_ids)}
    unknown = sorted({m.expect for m in faq if m.expect != OUT_OF_SCOPE and m.expect not in position})
    if unknown:
        raise ValueError(f"{kset.name}: test messages expect entries the knowledge does not have: {unknown}")
    gold = np.array([position.get(m.expect, -1) for m in faq])
    return Prepared(kset, retriever, calibration, faq, evidence, nearest, gold,
                    [lang.code for _, lang in normalised], np.array([is_pleasantry_only(m.text) for m in faq]))


def outcomes(prepared: Prepared, params: DecisionParams) -> Dict[str, np.ndarray]:
    """Vectorised assess() (knowledge.decision): for each FAQ test message, the action and whether the top entry
    is right."""
    excluded = np.zeros_like(prepared.evidence["question"], dtype=bool)
    features, right, in_options = fused_features(prepared.evidence, excluded, prepared.nearest, prepared.gold,
                                                 params.fusion, params.clarify_options)
    z = params.intercept + features @ np.array(params.coefficients)
    confidence = 1 / (1 + np.exp(-np.clip(z, -40, 40)))
    fused = sum(params.fusion.get(k, 0.0) * prepared.evidence[k] for k in params.fusion)
    action = np.where(confidence >= params.answer_threshold, ANSWER,
                      np.where(confidence >= params.clarify_threshold, CLARIFY, HANDOFF))
    action = np.where(prepared.pleasantry, Kind.SMALLTALK, action)
    return {"action": action, "right": right, "in_options": in_options, "top": np.argmax(fused, axis=1)}


def table_row(prepared: Prepared, result: Dict[str, np.ndarray], keep: np.ndarray) -> Dict[str, float]:
    scoped = keep & (prepared.gold >= 0)
    oos = keep & (prepared.gold < 0)
    action, right = result["action"], result["right"]
    n = max(int(scoped.sum()), 1)
    return {
        "in_scope": int(scoped.sum()),
        "out_of_scope": int(oos.sum()),
        "top1": float(np.sum(right & scoped)) / n,
        "right": float(np.sum(scoped & (action == ANSWER) & right)) / n,
        "wrong": float(np.sum(scoped & (action == ANSWER) & ~right)) / n,
        "clarified": float(np.sum(scoped & (action == CLARIFY))) / n,
        "clarified_right": float(np.sum(scoped & (action == CLARIFY) & result["in_options"])) / n,
        "handed_off": float(np.sum(scoped & (action == HANDOFF))) / n,
        "oos_handed_off": float(np.sum(oos & (action == HANDOFF))) / max(int(oos.sum()), 1),
        "oos_answered": float(np.sum(oos & (action == ANSWER))) / max(int(oos.sum()), 1),
        "oos_clarified": float(np.sum(oos & (action == CLARIFY))) / max(int(oos.sum()), 1),
    }


def utility(row: Dict[str, float]) -> float:
    """What the settings are chosen for, in the order of the targets: right answers; few wrong ones; a customer
    with an answerable question sent to a person is a cost too, a helpful "did you mean…?" half a gain; an
    out-of-scope question answered is as bad as a wrong answer to an answerable one, offered options a smaller
    cost."""
    return (row["right"] - 3.0 * row["wrong"] + 0.4 * row["clarified_right"] - 0.4 * row["handed_off"]
            - 1.0 * row["oos_answered"] - 0.4 * row["oos_clarified"])


HIDE_CHOICES = ("self",)  # "language" was measured too, and never chosen
FUSION_CHOICES = (None, (0.45, 0.15, 0.15, 0.25), (0.3, 0.4, 0.1, 0.2), (0.2, 0.3, 0.1, 0.4), (0.1, 0.2, 0.1, 0.6),
                  (0.25, 0.25, 0.25, 0.25))
SETTINGS_GRID = [
    CalibrationSettings(wrong_answer_cost=cost, negative_weight=weight, answer_shift=shift, fusion=fusion,
                        clarify_cost=clarify)
    for cost, weight, shift, fusion, clarify in product((1.5, 2.0, 3.0), (0.5, 0.75, 1.0), (0.0,), FUSION_CHOICES,
                                                        (1.0, 2.0, 4.0))
]


def utility_table(prepared: Sequence[Prepared]) -> np.ndarray:
    """utility[knowledge set, settings], each set scored with the parameters its own calibration fitted."""
    table = np.zeros((len(prepared), len(SETTINGS_GRID)))
    everything = None
    for i, p in enumerate(prepared):
        everything = np.ones(len(p.faq), dtype=bool)
        for j, settings in enumerate(SETTINGS_GRID):
            table[i, j] = utility(table_row(p, outcomes(p, p.params(settings)), everything))
    return table


NEAR_TIE = 0.005  # of mean utility: about one message in two hundred


def choose_settings(table: np.ndarray, families: Sequence[str], keep: Sequence[bool]) -> CalibrationSettings:
    """The settings with the best mean utility over the kept knowledge bases, each family (a knowledge base
    and its sparse variants) counting once."""
    kept = [f for f, k in zip(families, keep) if k]
    means = [table[[i for i, f in enumerate(families) if f == family and keep[i]]].mean(axis=0)
             for family in sorted(set(kept))]
    score = np.mean(means, axis=0)
    # near ties (the fits differ in the last digits from run to run) go to the first settings in the grid
    return SETTINGS_GRID[int(np.flatnonzero(score >= score.max() - NEAR_TIE)[0])]


# ---------------------------------------------------------------- handoff signals


def signal_recall(kset: KnowledgeSet, detector: SentimentDetector) -> Dict[str, Tuple[int, int]]:
    """How many upset, rude and person-asking messages the bot's triggers hand off (the sentiment detector and
    the person-request patterns, as the actions use them)."""
    counts: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    for message in kset.messages:
        if message.expect not in SIGNALS:
            continue
        mood = detector.assess(message.text, message.lang, []).label
        handed = mood in (Mood.UPSET, Mood.RUDE) or asks_for_person(message.text)
        counts[message.expect][0] += int(handed)
        counts[message.expect][1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


# ---------------------------------------------------------------- routing


SMALLTALK_INTENTS = ("greet", "thanks", "goodbye", "bot_challenge", "affirm", "deny", "hesitate")
TO_KNOWLEDGE = ("faq", "nlu_fallback")


def parse_intents(texts: Sequence[str], settings: Settings) -> List[str]:
    """The intents the bot's trained Rasa model gives these messages (trained first when the data changed)."""
    # Rasa (and TensorFlow under it) take seconds to import; only this table needs them
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    logging.getLogger("rasa").setLevel(logging.ERROR)
    configure_structlog(logging.ERROR)
    agent = Agent.load(str(ensure_model(settings)))

    async def parse() -> List[str]:
        return [(await agent.parse_message(text))["intent"]["name"] for text in texts]

    return asyncio.run(parse())


def routing_rows(prepared: Sequence[Prepared], chosen: Dict[str, CalibrationSettings], settings: Settings) -> List[str]:
    """How often an answerable question is taken by Rasa for something else, and how often it still misses the
    knowledge after the actions' fallbacks (small talk and "didn't help" hand a longer message to the knowledge
    when it is sure; see policy/decide.py)."""
    lines = ["", "Routing: answerable questions that Rasa's intent sends elsewhere, and those that still miss the "
             "knowledge after the actions' fallbacks:", "",
             "| knowledge base | answerable | intent not faq | of these, the knowledge still takes over | still missed |",
             "|---|---|---|---|---|"]
    for p in prepared:
        if p.kset.family != p.kset.name:
            continue
        scoped = [i for i in range(len(p.faq)) if p.gold[i] >= 0]
        intents = parse_intents([p.faq[i].text for i in scoped], settings)
        action = outcomes(p, p.params(chosen[p.kset.family]))["action"]
        elsewhere, rescued = 0, 0
        for i, intent in zip(scoped, intents):
            if intent in TO_KNOWLEDGE:
                continue
            elsewhere += 1
            long_enough = len(strip_pleasantries(p.faq[i].text).split()) >= KNOWLEDGE_OVER_SMALLTALK_WORDS
            if long_enough and (intent == "didnt_help" or (intent in SMALLTALK_INTENTS and action[i] == ANSWER)):
                rescued += 1
        n = max(len(scoped), 1)
        lines.append(f"| {p.kset.name} | {len(scoped)} | {percent(elsewhere / n)} % | {rescued} | "
                     f"{percent((elsewhere - rescued) / n)} % |")
    return lines


# ---------------------------------------------------------------- the report


def percent(x: float) -> str:
    return f"{100 * x:.0f}"


def main(args, report: Dict[str, str]) -> None:
    with threadpool_limits(1):  # one BLAS thread: the fits come out the same in every run
        _main(args, report)


def _main(args, report: Dict[str, str]) -> None:
    encoder = cached_encoder(args.settings.encoder)
    sets = discover_sets()
    prepared = []
    for kset in sets:
        print(f"indexing {kset.name} ({kset.knowledge_dir})", flush=True)
        prepared.append(prepare(kset, encoder))
    encoder.save()
    families = sorted({p.kset.family for p in prepared})
    print(f"scoring {len(SETTINGS_GRID)} calibration settings on {len(prepared)} knowledge sets", flush=True)
    table = utility_table(prepared)
    chosen: Dict[str, CalibrationSettings] = {}
    for family in families:
        chosen[family] = choose_settings(table, [p.kset.family for p in prepared],
                                         [p.kset.family != family for p in prepared])
        print(f"settings for {family}, chosen on the others: {chosen[family]}", flush=True)
    shipped = choose_settings(table, [p.kset.family for p in prepared], [True] * len(prepared))

    lines = [
        "| knowledge base | entries | language | in scope / out of scope | top-1 | answered right | answered wrong | "
        "clarified (right option offered) | answerable handed off | out-of-scope handed off | out-of-scope answered |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    totals: Dict[str, List[Dict[str, float]]] = defaultdict(list)
    for p in prepared:
        params = p.params(chosen[p.kset.family])
        result = outcomes(p, params)
        langs = np.array([m.lang for m in p.faq])
        for lang in ("en", "ru", "et", "all"):
            keep = np.ones(len(p.faq), dtype=bool) if lang == "all" else langs == lang
            row = table_row(p, result, keep)
            if p.kset.family != "demo" and lang != "all":
                totals[lang].append(row)
            lines.append(
                f"| {p.kset.name} | {len(p.retriever.kb)} | {lang} | {row['in_scope']} / {row['out_of_scope']} | "
                f"{percent(row['top1'])} | {percent(row['right'])} | {percent(row['wrong'])} | "
                f"{percent(row['clarified'])} ({percent(row['clarified_right'])}) | {percent(row['handed_off'])} | "
                f"{percent(row['oos_handed_off'])} | {percent(row['oos_answered'])} |")
    summary = ["", "Foreign knowledge bases together (macro mean over bank, shop, university, water), per language:", "",
               "| language | answered right | answered wrong | answerable handed off | out-of-scope handed off |",
               "|---|---|---|---|---|"]
    for lang in ("en", "ru", "et"):
        rows = totals[lang]
        if rows:
            mean = {k: float(np.mean([r[k] for r in rows])) for k in ("right", "wrong", "handed_off", "oos_handed_off")}
            summary.append(f"| {lang} | {percent(mean['right'])} | {percent(mean['wrong'])} | "
                           f"{percent(mean['handed_off'])} | {percent(mean['oos_handed_off'])} |")
    signal_lines = ["", "Handoff triggers on the test sets' upset, rude and person-asking messages (handed off / all):", "",
                    "| knowledge base | upset | rude | asks for a person |", "|---|---|---|---|"]
    detector = SentimentDetector(encoder=load_encoder(args.settings.encoder), model_dir=args.settings.model_dir)
    for kset in sets:
        if kset.family == kset.name and kset.name != "demo":
            counts = signal_recall(kset, detector)
            cells = [f"{counts[s][0]}/{counts[s][1]}" if s in counts else "-" for s in SIGNALS]
            signal_lines.append(f"| {kset.name} | " + " | ".join(cells) + " |")
    settings_lines = ["", "Calibration settings, chosen leave-one-knowledge-base-out:", ""] + [
        f"- for {family}: {chosen[family]}" for family in families] + [
        f"- shipped default (chosen on all of them): {shipped}"]
    routing = routing_rows(prepared, chosen, args.settings) if not getattr(args, "no_routing", False) else []
    body = "\n".join(lines + summary + signal_lines + routing + settings_lines)
    print(body)
    report["knowledge"] = body
    if getattr(args, "params_out", None):
        write_settings(Path(args.params_out), shipped, chosen)


def write_settings(path: Path, shipped: CalibrationSettings, chosen: Dict[str, CalibrationSettings]) -> None:
    """The calibration settings chosen on all knowledge bases (a candidate for CalibrationSettings' defaults in
    knowledge/calibration.py) and those chosen for each knowledge base on the others, as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"shipped": asdict(shipped), "left_one_out": {family: asdict(s) for family, s in chosen.items()}}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- index build time


def bench_indexing(args, report: Dict[str, str]) -> None:
    """Build time of a large knowledge base (every evaluation knowledge base and the demo, twice over, about
    300 entries), then of the edit of one entry, with the real encoder and no embedding cache."""
    source = BENCH_DIR / "large-knowledge"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    folders = [DEFAULT_KNOWLEDGE_DIR] + [s.knowledge_dir for s in discover_sets(0) if s.name != "demo"]
    for copy in (1, 2):
        for folder in folders:
            for path in sorted(folder.glob("*.y*ml")):
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                if "entries" not in data:
                    continue
                data.pop("news", None)
                for entry in data["entries"]:
                    entry["id"] = f"{folder.parent.name}-{entry['id']}-{copy}"
                    if copy == 2:  # other texts, so that nothing is embedded twice
                        entry["questions"] = {lang: [f"{q} ({copy})" for q in qs] for lang, qs in entry.get("questions", {}).items()}
                        entry["answer"] = {lang: f"{a} ({copy})" for lang, a in entry["answer"].items()}
                target = source / f"{folder.parent.name}-{folder.name}-{copy}-{path.name}"
                target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    encoder = load_encoder(args.settings.encoder)
    kb = load_knowledge(source)
    directory = BENCH_DIR / "index" / "large-knowledge"
    shutil.rmtree(directory, ignore_errors=True)
    started = time.perf_counter()
    full = build_index(kb, encoder, directory)
    full_seconds = time.perf_counter() - started
    edited = sorted(source.glob("*.y*ml"))[0]
    edited.write_text(edited.read_text(encoding="utf-8").replace("?", " please?", 1), encoding="utf-8")
    started = time.perf_counter()
    edit = build_index(load_knowledge(source), encoder, directory)
    edit_seconds = time.perf_counter() - started
    body = (f"| knowledge | entries | texts | full build | after editing one entry |\n|---|---|---|---|---|\n"
            f"| every evaluation knowledge base and the demo, twice | {full.entries} | {full.rows} | "
            f"{full_seconds:.0f} s | live after {edit.live_after or edit_seconds:.1f} s, recalibrated after "
            f"{edit_seconds:.0f} s ({edit.embedded} texts embedded) |\n\n"
            "The full build embeds every text, fits the classifier and calibrates the decision (two classifier "
            "folds on a sample of 800 example questions). An edit re-embeds only the changed texts and refits the "
            "classifier from the published one; an edit of at most a twentieth of the entries is published at once "
            "with the previous calibration, then recalibrated and published again.")
    print(body)
    report["indexing"] = body


# ---------------------------------------------------------------- end to end, through the whole bot


def bench_live(args, report: Dict[str, str]) -> None:
    """Every test message of each foreign knowledge base through the whole running bot (gateway, Rasa, the
    actions), as a new conversation, exactly as `supportbot ask --knowledge DIR` would send it."""
    lines = ["| knowledge base | language | answerable | answered right | answered wrong | clarified (right option) | "
             "handed off | small talk | out-of-scope handed off | upset / rude / person handed off |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for kset in discover_sets(0):
        if kset.name == "demo":
            continue
        settings = private_settings(args.settings.with_overrides(str(kset.knowledge_dir)), rate_limit="off",
                                    database_url=scratch_database(BENCH_DIR / f"live-{kset.name}.db"))
        outcomes_by_lang: Dict[str, List[Tuple[TestMessage, dict]]] = defaultdict(list)
        with Stack(settings, quiet=True):
            for message in kset.messages:
                replies = send(settings.rest_url, f"eval-{uuid.uuid4().hex[:12]}", message.text, token=settings.rest_api_token)
                first = next((r.get("custom") or {} for r in replies if r.get("custom")), {})
                outcomes_by_lang[message.lang].append((message, first))
        print(f"{kset.name}: {len(kset.messages)} messages through the bot", flush=True)
        for lang in ("en", "ru", "et", "all"):
            pairs = [p for l, ps in outcomes_by_lang.items() for p in ps if lang in ("all", l)]
            scoped = [(m, c) for m, c in pairs if m.expect not in SIGNALS and m.expect != OUT_OF_SCOPE]
            oos = [(m, c) for m, c in pairs if m.expect == OUT_OF_SCOPE]
            signals = [(m, c) for m, c in pairs if m.expect in SIGNALS]
            n = max(len(scoped), 1)

            def share(items, test) -> str:
                return percent(sum(1 for m, c in items if test(m, c)) / max(len(items), 1))

            right = sum(1 for m, c in scoped if c.get("kind") == Kind.ANSWER and c.get("faq_id") == m.expect
                        or c.get("kind") == Kind.HANDOFF and c.get("reason") == Reason.TOPIC_POLICY)
            wrong = sum(1 for m, c in scoped if c.get("kind") == Kind.ANSWER and c.get("faq_id") != m.expect)
            clarified = [(m, c) for m, c in scoped if c.get("kind") == Kind.CLARIFY]
            clarified_right = sum(1 for m, c in clarified if m.expect in (c.get("options") or []))
            handed = sum(1 for m, c in scoped if c.get("kind") == Kind.HANDOFF and c.get("reason") != Reason.TOPIC_POLICY)
            smalltalk = sum(1 for m, c in scoped if c.get("kind") == Kind.SMALLTALK)
            lines.append(
                f"| {kset.name} | {lang} | {len(scoped)} | {percent(right / n)} | {percent(wrong / n)} | "
                f"{percent(len(clarified) / n)} ({percent(clarified_right / n)}) | {percent(handed / n)} | "
                f"{percent(smalltalk / n)} | {share(oos, lambda m, c: c.get('kind') == Kind.HANDOFF)} | "
                f"{share(signals, lambda m, c: c.get('kind') == Kind.HANDOFF)} |")
    body = "\n".join(lines) + (
        "\n\nEach message opens a new conversation; the first reply with metadata counts. A topic-policy handoff "
        "of the right entry counts as right. Percentages of the answerable messages, except the last two columns.")
    print(body)
    report["knowledge_live"] = body
