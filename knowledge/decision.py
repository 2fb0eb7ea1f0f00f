"""The one place that decides: answer, ask which entry was meant, or hand off to a human.

Used by the live bot's actions and by every evaluation command. The evidence (fused score, margin
to the next entry, agreement of the nearest example questions, classifier probability, language)
is turned into a calibrated probability that the top entry is right; thresholds on that probability,
fitted on each knowledge base at index time (knowledge.calibration) and stored in its index, pick the action."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from knowledge.model import KnowledgeBase
from knowledge.params import DecisionParams
from knowledge.retriever import RetrievalResult

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


def decide(result: RetrievalResult, kb: KnowledgeBase, params: DecisionParams,
           mood: Optional[str] = None, just_answered: Optional[str] = None, wants_person: bool = False) -> Decision:
    """The one answer / clarify / hand-off decision. `mood` is the customer's detected sentiment (calm, upset,
    rude); `just_answered` the entry the bot answered with right before: asking it again means it did not help;
    `wants_person`: the message asks for a person. `params` are the index's own (Retriever.params)."""
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
