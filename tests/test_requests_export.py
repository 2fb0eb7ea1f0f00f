"""The service-desk log's export (`supportbot requests export`) and the console's Requests API: the exact columns,
masked personal data, the JSON shape, --since and --until, and the filters, search, pages and CSV of the API."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from fake_bot import FakeBot
from helpers import gateway_app
from seeded_requests import RESOLUTION_EMAIL, RESOLUTION_PHONE, seed

from handoff.console.app import ROUTER_KEY
from handoff.db import migrate
from handoff.store import HandoffStore
from supportbot import cli

COLUMNS = ["id", "channel", "language", "started_at", "path", "reason", "agent", "first_agent_reply_seconds",
           "queue_seconds", "state", "resolution", "rating", "messages"]
# the desk's day 0: a Monday (the weekly figures start on Mondays), so that its last request (day 14) is two to
# eight days old whenever the tests run
_SIXTEEN_DAYS_AGO = (datetime.now(timezone.utc) - timedelta(days=16)).date()
MONDAY = _SIXTEEN_DAYS_AGO - timedelta(days=_SIXTEEN_DAYS_AGO.weekday())
CUSTOMER_SECRETS = ("carl@example.com", "5123 4567", RESOLUTION_EMAIL, RESOLUTION_PHONE)


def day(offset: int) -> str:
    return (MONDAY + timedelta(days=offset)).isoformat()


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    store = HandoffStore.open(url, run_migrations=False)
    seed(store, MONDAY)
    store.engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BUSINESS_TIMEZONE", "UTC")
    return url


def export(capsys, *args: str) -> str:
    assert cli.main(["requests", "export", *args]) == 0
    return capsys.readouterr().out


def test_the_csv_has_the_columns_in_order_and_one_line_per_request(database, capsys):
    lines = list(csv.reader(io.StringIO(export(capsys))))
    assert lines[0] == COLUMNS
    assert len(lines) == 1 + 15
    table = [dict(zip(COLUMNS, line)) for line in lines[1:]]
    assert [row["started_at"][:10] for row in table] == sorted(row["started_at"][:10] for row in table)
    low = next(row for row in table if row["reason"] == "low_confidence")
    assert {k: v for k, v in low.items() if k not in ("id", "started_at", "resolution")} == {
        "channel": "webchat", "language": "et", "path": "agent", "reason": "low_confidence", "agent": "Mari",
        "first_agent_reply_seconds": "180", "queue_seconds": "120", "state": "closed", "rating": "5", "messages": "9"}
    assert low["started_at"] == f"{day(4)}T11:00:00Z"
    bot_only = next(row for row in table if row["started_at"] == f"{day(1)}T09:00:00Z")
    assert bot_only == {**bot_only, "path": "bot_only", "reason": "", "agent": "", "queue_seconds": "",
                        "first_agent_reply_seconds": "", "state": "contained", "rating": "", "messages": "2"}
    assert [row["path"] for row in table].count("handed_off") == 2


def test_personal_data_in_the_export_is_masked(database, capsys):
    exported = export(capsys) + export(capsys, "--format", "json")
    for secret in CUSTOMER_SECRETS:
        assert secret not in exported
    table = list(csv.DictReader(io.StringIO(export(capsys))))
    assert {row["resolution"] for row in table if row["resolution"]} == {
        "Tehnik tuleb, kinnitus aadressile [e-mail]", "Called back on [phone]"}


def test_the_json_export_has_the_csv_columns(database, capsys):
    document = json.loads(export(capsys, "--format", "json", "--since", day(0), "--until", day(13)))
    assert set(document) == {"since", "until", "time_zone", "columns", "requests"}
    assert (document["since"], document["until"], document["time_zone"]) == (day(0), day(13), "UTC")
    assert document["columns"] == COLUMNS
    assert len(document["requests"]) == 13
    assert all(list(row) == COLUMNS for row in document["requests"])
    rude = next(row for row in document["requests"] if row["reason"] == "rude")
    assert (rude["queue_seconds"], rude["first_agent_reply_seconds"], rude["rating"], rude["agent"]) == (600, 720, 2, "Jaan")


def test_since_and_until_choose_the_days_both_included(database, capsys, tmp_path):
    since = list(csv.DictReader(io.StringIO(export(capsys, "--since", day(9)))))
    assert [(row["started_at"], row["state"]) for row in since] == [
        (f"{day(11)}T14:00:00Z", "waiting"), (f"{day(12)}T09:00:00Z", "contained"), (f"{day(14)}T10:00:00Z", "no_answer")]
    one_day = list(csv.DictReader(io.StringIO(export(capsys, "--since", day(4), "--until", day(4)))))
    assert [row["state"] for row in one_day] == ["didnt_help", "closed"]

    written = tmp_path / "requests.csv"
    assert cli.main(["requests", "export", "--since", day(9), "--output", str(written)]) == 0
    assert "wrote 3 requests" in capsys.readouterr().err
    assert written.read_text(encoding="utf-8").splitlines()[0] == ",".join(COLUMNS)


def test_a_wrong_date_is_refused(database, capsys):
    with pytest.raises(SystemExit, match="not a date"):
        cli.main(["requests", "export", "--since", "last week"])


def test_supportbot_analytics_prints_the_same_figures(database, capsys):
    assert cli.main(["analytics", "--since", day(0), "--until", day(13), "--format", "json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["all"]["requests"] == 13 and list(figures["languages"]) == ["en", "et", "ru"]
    assert cli.main(["analytics", "--since", day(0), "--until", day(13), "--by", "week"]) == 0
    table = capsys.readouterr().out
    assert "contained" in table and "5 (38.5 %)" in table and "8 (61.5 %)" in table
    assert f"{day(0)}      9 = 3 + 1 + 2 + 3" in table
    for secret in CUSTOMER_SECRETS:
        assert secret not in table


@pytest.fixture
async def console(aiohttp_client, tmp_path):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    app = gateway_app(url, FakeBot())
    seed(app[ROUTER_KEY].store, MONDAY)
    client = await aiohttp_client(app)
    assert (await client.post("/console/api/login", json={"username": "jaan", "password": "correct horse"})).status == 200
    return client


async def listed(client, **params):
    reply = await client.get("/console/api/requests", params=params)
    assert reply.status == 200, await reply.text()
    return await reply.json()


async def test_the_requests_api_filters_and_pages_newest_first(console):
    everything = await listed(console)
    assert (everything["total"], everything["in_period"], everything["since"]) == (15, 15, None)
    assert [r["started_at"] for r in everything["requests"]] == sorted((r["started_at"] for r in everything["requests"]), reverse=True)
    assert everything["options"] == {
        "channels": ["rest", "telegram", "webchat"], "languages": ["en", "et", "ru"],
        "reasons": ["human_request", "low_confidence", "rude", "topic_policy"], "agents": ["Jaan", "Mari"],
        "states": ["contained", "didnt_help", "no_answer", "waiting", "agent", "closed", "returned"]}
    assert (await listed(console, language="ru"))["total"] == 5
    assert (await listed(console, channel="rest", state="no_answer"))["total"] == 3
    assert (await listed(console, reason="none"))["total"] == 10
    assert [r["reason"] for r in (await listed(console, agent="Mari"))["requests"]] == ["topic_policy", "low_confidence"]
    in_days = await listed(console, since=day(0), until=day(13))
    assert (in_days["total"], in_days["in_period"], in_days["since"], in_days["until"]) == (13, 13, day(0), day(13))

    first, second = await listed(console, limit="10"), await listed(console, limit="10", offset="10")
    assert len(first["requests"]) == 10 and len(second["requests"]) == 5 and second["total"] == 15
    assert [r["id"] for r in first["requests"] + second["requests"]] == [r["id"] for r in everything["requests"]]
    assert (await console.get("/console/api/requests", params={"limit": "-1"})).status == 400
    assert (await console.get("/console/api/requests", params={"until": "tomorrow"})).status == 400


async def test_the_search_finds_words_and_shows_masked_snippets(console):
    refund = await listed(console, q="REFUND")
    assert [r["snippet"] for r in refund["requests"]] == [
        "How do I get a refund? Write to [e-mail]", "what are your refund options"]
    # an agent may look a customer up by an e-mail address: found, and still masked
    found = await listed(console, q="carl@example.com")
    assert found["total"] == 1 and found["requests"][0]["snippet"] == "How do I get a refund? Write to [e-mail]"
    phone = await listed(console, q="invoice is wrong")
    assert phone["requests"][0]["snippet"] == "My invoice is wrong, call me at [phone]"
    text = json.dumps(await listed(console))
    for secret in CUSTOMER_SECRETS:
        assert secret not in text


async def test_the_csv_export_of_the_console_is_what_the_filter_shows(console):
    reply = await console.get("/console/api/requests.csv", params={"language": "en", "since": day(0)})
    assert reply.status == 200 and reply.content_type == "text/csv"
    today = datetime.now(ZoneInfo("Europe/Tallinn")).date()  # the gateway's business time zone in the tests
    assert reply.headers["Content-Disposition"] == f'attachment; filename="requests-{day(0)}-{today}.csv"'
    table = list(csv.DictReader(io.StringIO(await reply.text())))
    shown = (await listed(console, language="en", since=day(0)))["requests"]
    assert [row["id"] for row in table] == [r["id"] for r in shown]
    assert list(table[0]) == COLUMNS
    assert all(row["language"] == "en" for row in table) and len(table) == 7
