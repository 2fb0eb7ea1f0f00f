"""The knowledge's own verdict on a message: answer with the top entry, ask which entry was meant, or say why the
knowledge cannot answer it (it has nothing on it, it is not sure, the entry says people handle it, it is the
answer that did not help just now).

It knows nothing of the customer's mood or of requests for a person: policy.decide weighs those with this verdict,
while the golden gate (knowledge.golden) and the evaluation commands read the verdict alone. The evidence (fused
score, margin to the next entry, agreement of the nearest example questions, classifier probability, language)
is turned into a calibrated probability that the top entry is right; thresholds on that probability, fitted on
each knowledge base at index time (knowledge.calibration) and stored in its index, pick the verdict."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from knowledge.model import KnowledgeBase
from knowledge.params import DecisionParams
from knowledge.retriever import RetrievalResult

ANSWER = "answer"
CLARIFY = "clarify"
OUT_OF_SCOPE = "out_of_scope"  # the knowledge has nothing on it
LOW_CONFIDENCE = "low_confidence"  # it has something, but not surely the right thing
TOPIC_POLICY = "topic_policy"  # the top entry says people handle its topic (`handoff: true`)
REPEATED_FAILURE = "repeated_failure"  # the top entry is the answer given right before: it did not help

HANDOFF = "handoff"  # the action of every verdict but an answer or a clarification: a person should take it


@dataclass(frozen=True)
class Verdict:
    name: str  # one of the verdicts above
    entry_id: Optional[str]  # the top entry, if any
    confidence: float
    score: float
    language: str
    options: List[str] = field(default_factory=list)  # entry ids to offer when clarifying
    considered: List[Dict[str, float]] = field(default_factory=list)  # for the agent's handoff packet

    @property
    def action(self) -> str:
        """answer, clarify or handoff."""
        return self.name if self.name in (ANSWER, CLARIFY) else HANDOFF


def assess(result: RetrievalResult, kb: KnowledgeBase, params: DecisionParams,
           just_answered: Optional[str] = None) -> Verdict:
    """The knowledge's verdict on a retrieval. `just_answered` is the entry the bot answered with right before:
    asking it again means it did not help. `params` are the index's own (Retriever.params)."""
    top = result.top
    considered = [{"faq_id": c.entry_id, "score": round(c.score, 4)} for c in result.candidates]
    language = result.language.code
    if top is None:
        return Verdict(OUT_OF_SCOPE, None, 0.0, 0.0, language, considered=considered)
    confidence = params.confidence(result)
    entry = kb.get(top.entry_id)

    def verdict(name: str, options: Optional[List[str]] = None) -> Verdict:
        return Verdict(name, top.entry_id, confidence, top.score, language, options or [], considered)

    if confidence >= params.answer_threshold:
        if entry is not None and entry.handoff:
            return verdict(TOPIC_POLICY)
        if just_answered and top.entry_id == just_answered:
            return verdict(REPEATED_FAILURE)
        return verdict(ANSWER)
    if confidence >= params.clarify_threshold and len(result.candidates) > 1:
        return verdict(CLARIFY, options=[c.entry_id for c in result.candidates[: params.clarify_options]])
    if confidence < params.out_of_scope_threshold:
        return verdict(OUT_OF_SCOPE)
    return verdict(LOW_CONFIDENCE)
