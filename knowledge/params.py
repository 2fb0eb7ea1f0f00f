"""The decision's parameters: how the evidence is fused and turned into a confidence, and the thresholds on it.

Each index carries its own, fitted on its own knowledge at index time (knowledge.calibration) and stored in
its manifest. This module is a leaf: the retriever, the decision and the calibration all read it."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Sequence

EVIDENCE = ("question", "answer", "lexical", "classifier")
DEFAULT_FUSION = {"question": 0.45, "answer": 0.15, "lexical": 0.15, "classifier": 0.25}

FEATURES = ("score", "margin", "agreement", "question", "classifier", "lexical", "lang_ru", "lang_et", "latin_russian")


def decision_features(result) -> List[float]:
    """The evidence about a retrieval result's top entry, in the order of FEATURES."""
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

    def confidence_of(self, features: Sequence[float]) -> float:
        z = self.intercept + sum(c * x for c, x in zip(self.coefficients, features))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def confidence(self, result) -> float:
        return self.confidence_of(decision_features(result))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DecisionParams":
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)
