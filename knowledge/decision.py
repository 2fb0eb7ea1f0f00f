"""The one place that decides: answer, ask which entry was meant, or hand off to a human.

Used by the live bot's actions and by every evaluation command. The evidence (fused score, margin
to the next entry, agreement of the nearest example questions, classifier probability, language)
is turned into a calibrated probability that the top entry is right; thresholds on that probability,
tuned on validation data by `supportbot eval tune`, pick the action."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional

from knowledge.model import KnowledgeBase
from knowledge.retriever import DEFAULT_FUSION, RetrievalResult

PARAMS_FILE = Path(__file__).resolve().parent / "decision_params.json"

ANSWER = "answer"
CLARIFY = "clarify"
HANDOFF = "handoff"
OUT_OF_SCOPE = "out_of_scope"
LOW_CONFIDENCE = "low_confidence"
TOPIC_POLICY = "topic_policy"
UPSET = "upset"
RUDE = "rude"
REPEATED_FAILURE = "repeated_failure"
HUMAN_REQUEST = "human_request"

FEATURES = ("score", "margin", "agreement", "question", "classifier", "lexical", "lang_ru", "lang_et", "latin_russian")


def decision_features(result: RetrievalResult) -> List[float]:
    top = result.top
    if top is None:
        return [0.0] * len(FEATURES)
    return [
        top.score,
        result.margin,
        result.agreement,
        top.evidence["question"],
        top.evidence["classifier"],
        top.evidence["lexical"],
        float(result.language.code == "ru"),
        float(result.language.code == "et"),
        float(result.language.latin_russian),
    ]


@dataclass
class DecisionParams:
    fusion: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FUSION))
    coefficients: List[float] = field(default_factory=lambda: [12.0, 20.0, 1.0, 0, 0, 0, 0, 0, 0])
    intercept: float = -9.0
    answer_threshold: float = 0.6
    clarify_threshold: float = 0.3
    out_of_scope_threshold: float = 0.1
    clarify_options: int = 3
    tuned_on: str = "untuned defaults"

    def confidence(self, result: RetrievalResult) -> float:
        z = self.intercept + sum(c * x for c, x in zip(self.coefficients, decision_features(result)))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def save(self, path: Path = PARAMS_FILE) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")


@lru_cache(maxsize=4)
def load_decision_params(path: str = str(PARAMS_FILE)) -> DecisionParams:
    file = Path(path)
    if not file.exists():
        return DecisionParams()
    return DecisionParams(**json.loads(file.read_text()))


@dataclass
class Decision:
    action: str  # answer, clarify or handoff
    reason: Optional[str]  # the handoff reason code, when action is handoff
    entry_id: Optional[str]
    confidence: float
    score: float
    language: str
    options: List[str] = field(default_factory=list)  # entry ids offered when clarifying
    considered: List[Dict[str, float]] = field(default_factory=list)  # for the agent's handoff packet


def decide(result: RetrievalResult, kb: KnowledgeBase, params: Optional[DecisionParams] = None,
           mood: Optional[str] = None, just_answered: Optional[str] = None, wants_person: bool = False) -> Decision:
    """The one answer / clarify / hand-off decision. `mood` is the customer's detected sentiment (calm, upset,
    rude); `just_answered` the entry the bot answered with right before: asking it again means it did not help;
    `wants_person`: the message asks for a person."""
    params = params or load_decision_params()
    top = result.top
    considered = [{"faq_id": c.entry_id, "score": round(c.score, 4)} for c in result.candidates]
    language = result.language.code
    if mood in (RUDE, UPSET):
        return Decision(HANDOFF, mood, top.entry_id if top else None, 0.0, top.score if top else 0.0, language,
                        considered=considered)
    if wants_person:
        return Decision(HANDOFF, HUMAN_REQUEST, top.entry_id if top else None, 0.0, top.score if top else 0.0, language,
                        considered=considered)
    if top is None:
        return Decision(HANDOFF, OUT_OF_SCOPE, None, 0.0, 0.0, language, considered=considered)
    confidence = params.confidence(result)
    entry = kb.get(top.entry_id)

    def make(action: str, reason: Optional[str] = None, options: Optional[List[str]] = None) -> Decision:
        return Decision(action, reason, top.entry_id, confidence, top.score, language, options or [], considered)

    if confidence >= params.answer_threshold:
        if entry is not None and entry.handoff:
            return make(HANDOFF, TOPIC_POLICY)
        if just_answered and top.entry_id == just_answered:
            return make(HANDOFF, REPEATED_FAILURE)
        return make(ANSWER)
    if confidence >= params.clarify_threshold and len(result.candidates) > 1:
        return make(CLARIFY, options=[c.entry_id for c in result.candidates[: params.clarify_options]])
    if confidence < params.out_of_scope_threshold:
        return make(HANDOFF, OUT_OF_SCOPE)
    return make(HANDOFF, LOW_CONFIDENCE)
