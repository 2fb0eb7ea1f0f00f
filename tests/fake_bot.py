"""A stand-in for the Rasa server: answers by rule and counts how often it was asked."""
from __future__ import annotations

from typing import Any, Dict, List, Optional


REFUND_BUTTON = '/faq{"faq_id":"billing-refund"}'


class FakeBot:
    def __init__(self):
        self.calls: List[str] = []

    async def send(self, sender_id: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        self.calls.append(text)
        lowered = text.lower()
        if "human" in lowered or "idiot" in lowered:
            reason = "rude" if "idiot" in lowered else "human_request"
            return [{"text": "A colleague will take over.", "custom": {
                "kind": "handoff", "reason": reason, "language": "en", "customer_name": "Anna", "question": text,
                "considered": [{"faq_id": "billing-payment-methods", "score": 0.41}],
                "sentiment": {"label": "rude" if reason == "rude" else "calm", "signals": []}}}]
        if "refund options" in lowered:
            return [{"text": "Which one?", "buttons": [{"title": "How do I get a refund?", "payload": REFUND_BUTTON}],
                     "custom": {"kind": "clarify", "language": "en"}}]
        return [{"text": f"bot answer to: {text}", "custom": {"kind": "answer", "language": "en"}}]

    async def close(self) -> None:
        pass
