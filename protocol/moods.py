"""The customer's mood as the sentiment detector reads it, and how it travels in a handoff packet."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple


class Mood:
    CALM = "calm"
    UPSET = "upset"
    RUDE = "rude"

    @classmethod
    def all(cls) -> Tuple[str, ...]:
        return (cls.CALM, cls.UPSET, cls.RUDE)


@dataclass(frozen=True)
class MoodReading:
    label: str = Mood.CALM
    upset: float = 0.0  # the probability that the customer is upset
    rude: float = 0.0
    signals: Tuple[str, ...] = field(default_factory=tuple)  # the cues that were found ("caps", "insult", ...)

    @property
    def needs_person(self) -> bool:
        return self.label in (Mood.UPSET, Mood.RUDE)

    def to_dict(self) -> Dict[str, Any]:
        return {"label": self.label, "upset": round(float(self.upset), 3), "rude": round(float(self.rude), 3),
                "signals": list(self.signals)}

    @classmethod
    def parse(cls, value: Any) -> "MoodReading":
        """From a packet: a dict as to_dict writes it, or a bare label (what older packets and the gateway's own
        handoffs carry); anything else reads as calm."""
        if isinstance(value, MoodReading):
            return value
        if isinstance(value, str):
            return cls(label=value if value in Mood.all() else Mood.CALM)
        if not isinstance(value, dict):
            return cls()
        label = value.get("label")
        signals = value.get("signals")
        return cls(label=label if label in Mood.all() else Mood.CALM, upset=_number(value.get("upset")),
                   rude=_number(value.get("rude")),
                   signals=tuple(str(s) for s in signals) if isinstance(signals, list) else ())


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


CALM = MoodReading()
