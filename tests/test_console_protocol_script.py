"""The console's JavaScript gets the contract's names from one served source, /console/protocol.js, and keeps no
literals of its own for the kinds, reasons and moods."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fake_bot import FakeBot
from helpers import gateway_app

from protocol.kinds import Kind, Limit
from protocol.moods import Mood
from protocol.reasons import KNOWLEDGE_GAPS, Reason

STATIC_DIR = Path(__file__).resolve().parent.parent / "handoff" / "console" / "static"
SCRIPT_SOURCE = re.compile(r'<script src="([^"]+)"')


def constants(names: type) -> dict:
    return {name: getattr(names, name) for name in dir(names) if name.isupper()}


@pytest.fixture
async def client(database_url, aiohttp_client):
    return await aiohttp_client(gateway_app(database_url, FakeBot()))


async def test_protocol_js_names_every_kind_reason_and_mood_without_a_session(client):
    reply = await client.get("/console/protocol.js")
    assert reply.status == 200
    assert reply.content_type == "text/javascript"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    script = await reply.text()
    assignment = re.fullmatch(r"(?s)//[^\n]*\nwindow\.PROTOCOL = (\{.*\});\n", script)
    assert assignment, script
    names = json.loads(assignment.group(1))
    assert names["kinds"] == constants(Kind) and set(names["kinds"].values()) == set(Kind.all())
    assert names["limits"] == constants(Limit)
    assert names["reasons"] == constants(Reason) and set(names["reasons"].values()) == set(Reason.all())
    assert names["moods"] == constants(Mood) and set(names["moods"].values()) == set(Mood.all())
    assert names["knowledgeGaps"] == list(KNOWLEDGE_GAPS)


def test_every_page_loads_protocol_js_before_the_scripts_that_use_it():
    for html in STATIC_DIR.glob("*.html"):
        sources = SCRIPT_SOURCE.findall(html.read_text(encoding="utf-8"))
        users = [i for i, source in enumerate(sources) if source.startswith("/console/static/")
                 and "PROTOCOL" in (STATIC_DIR / source.rsplit("/", 1)[1]).read_text(encoding="utf-8")]
        if users:
            assert "/console/protocol.js" in sources, html.name
            assert sources.index("/console/protocol.js") < min(users), html.name


def test_no_console_script_spells_a_kind_reason_or_mood_itself():
    quoted = set(Kind.all()) | set(Limit.all()) | set(Reason.all()) | set(Mood.all())
    keyed = set(Reason.all()) | set(Mood.all())  # also as a bare object key: `human_request: 'Asked for a human'`
    scripts = sorted(STATIC_DIR.glob("*.js"))
    assert scripts
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        for name in quoted:
            assert not re.search(rf"(['\"`]){re.escape(name)}\1", text), (script.name, name)
        for name in keyed:
            assert not re.search(rf"(?<![\w.-]){re.escape(name)}\s*:", text), (script.name, name)
