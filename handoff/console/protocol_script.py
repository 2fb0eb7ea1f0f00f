"""The contract's names for the console's JavaScript: /console/protocol.js sets `window.PROTOCOL` from the classes in
protocol/, so the pages compare kinds, reasons and moods with these names and keep no literals of their own."""
from __future__ import annotations

import json
from typing import Any, Dict

from protocol.kinds import Kind, Limit
from protocol.moods import Mood
from protocol.reasons import KNOWLEDGE_GAPS, Reason


def _constants(names: type) -> Dict[str, str]:
    return {name: value for name, value in vars(names).items() if name.isupper()}


def protocol_names() -> Dict[str, Any]:
    return {"kinds": _constants(Kind), "limits": _constants(Limit), "reasons": _constants(Reason),
            "moods": _constants(Mood), "knowledgeGaps": list(KNOWLEDGE_GAPS)}


def protocol_script() -> str:
    return ("// Generated from protocol/ by handoff/console/protocol_script.py: the names of the kinds, reasons and moods.\n"
            f"window.PROTOCOL = {json.dumps(protocol_names(), indent=2)};\n")
