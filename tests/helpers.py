"""Helpers shared by the tests (importable: `from helpers import make_tracker`)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker


def make_tracker(
    text: str,
    intent: str,
    slots: Optional[Dict[str, Any]] = None,
    entities: Optional[List[Dict[str, Any]]] = None,
    sender: str = "t",
    events: Optional[List[Dict[str, Any]]] = None,
) -> Tracker:
    """A rasa_sdk Tracker as the action server would build it from Rasa's request."""
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": dict(slots or {}),
            "latest_message": {
                "text": text,
                "intent": {"name": intent, "confidence": 1.0},
                "entities": list(entities or []),
            },
            "events": list(events or []) + [{"event": "user", "text": text}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


def slot_events(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The slots an action sets, as {slot: value} (later events win)."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


REST_TOKEN = "test-rest-token"
REST_AUTH = {"Authorization": f"Bearer {REST_TOKEN}"}


def gateway_app(database_url: str, bot: Any, **settings: Any):
    """The gateway's aiohttp app on a migrated database, with a stand-in for Rasa and agents always at work;
    `settings`: values of Settings other than the defaults."""
    from handoff.hours import BusinessHours
    from handoff.store import HandoffStore
    from supportbot.gateway import build_app
    from supportbot.settings import Settings

    store = HandoffStore.open(database_url, run_migrations=False)
    return build_app(Settings(rest_api_token=REST_TOKEN, **settings), store=store, bot=bot,
                     hours=BusinessHours.parse("always"))
