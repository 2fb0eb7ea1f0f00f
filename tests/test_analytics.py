"""The service-desk log's requests and the managers' figures (handoff/analytics.py) on a seeded desk with fixed
times (tests/seeded_requests.py): each figure against a value computed by hand, the partitions summing to 100 %,
and the console's analytics routes for admins only."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fake_bot import FakeBot
from helpers import gateway_app
from hypothesis import given
from hypothesis import strategies as st
from seeded_requests import MONDAY, Desk, now_of, seed

from handoff.analytics import (DEFINITIONS, Period, RequestLog, figures, largest_remainder, nearest_rank, report,
                               series)
from handoff.console.app import ROUTER_KEY
from handoff.db import migrate
from handoff.store import HandoffStore

DOCS = Path(__file__).resolve().parent.parent / "docs" / "analytics.md"
NOW = now_of()
PERIOD = Period(date(2026, 11, 16), date(2026, 11, 29), timezone.utc)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('analytics') / 'supportbot.db'}"
    migrate(url)
    store = HandoffStore.open(url, run_migrations=False)
    seed(store)
    yield store
    store.engine.dispose()


@pytest.fixture(scope="module")
def everything(seeded):
    return RequestLog(seeded.engine).requests(Period(None, NOW.date()), NOW)


@pytest.fixture(scope="module")
def period_report(seeded):
    return report(RequestLog(seeded.engine).requests(PERIOD, NOW), PERIOD, NOW, "day")


def rows(partition):
    return {row["key"]: (row["count"], row["percent"]) for row in partition["rows"]}


def percent_sum(partition) -> float:
    return round(sum(row["percent"] for row in partition["rows"]), 6)


def of_channel(requests, channel):
    return [(r.started_at.strftime("%d %H:%M"), r.state, r.messages) for r in requests if r.channel == channel]


def test_a_request_is_a_run_of_the_conversation_split_by_silence_or_by_the_end_of_a_stay(everything):
    # anna: 20 minutes after an answer is the same request; 59 minutes of silence split; inside the stay, 36 silent
    # minutes do not, nor the rating given 40 minutes after the close
    assert of_channel(everything, "webchat")[:3] == [("16 09:00", "contained", 4), ("20 10:00", "didnt_help", 3),
                                                     ("20 11:00", "closed", 9)]
    # carl: "ok thanks" 5 minutes after the stay was returned is a request of its own
    assert of_channel(everything, "rest")[-3:] == [("22 10:00", "returned", 4), ("22 10:35", "no_answer", 2),
                                                   ("30 10:00", "no_answer", 2)]
    assert len(everything) == 15
    assert len({r.id for r in everything}) == 15


def test_the_columns_of_a_stay_with_the_humans(everything):
    by_reason = {r.reason: r for r in everything if r.reason}
    rude, low = by_reason["rude"], by_reason["low_confidence"]
    assert (rude.path, rude.agent, rude.queue_seconds, rude.first_agent_reply_seconds, rude.state, rude.rating) == \
        ("agent", "Jaan", 600, 720, "closed", 2)
    assert (low.path, low.agent, low.queue_seconds, low.first_agent_reply_seconds, low.rating, low.language) == \
        ("agent", "Mari", 120, 180, 5, "et")
    policy = by_reason["topic_policy"]
    assert (policy.path, policy.state, policy.queue_seconds, policy.first_agent_reply_seconds) == ("agent", "agent", 1800, None)
    asked = sorted((r.state, r.path, r.agent, r.queue_seconds) for r in everything if r.reason == "human_request")
    assert asked == [("returned", "handed_off", None, None), ("waiting", "handed_off", None, None)]


def test_the_outcomes_partition_the_requests_and_sum_to_exactly_100(period_report):
    block = period_report["all"]
    assert block["requests"] == 13
    # 5/13, 1/13, 2/13, 5/13 would round to 38.5 + 7.7 + 15.4 + 38.5 = 100.1; the largest remainder gives 100.0
    assert rows(block["outcomes"]) == {"contained": (5, 38.5), "didnt_help": (1, 7.7), "no_answer": (2, 15.4),
                                       "handed_off": (5, 38.4)}
    assert block["outcomes"]["of"] == 13 and percent_sum(block["outcomes"]) == 100.0
    assert block["containment"] == {"count": 5, "of": 13, "percent": 38.5, "denominator": "requests started in the period"}


def test_containment_counts_no_request_with_a_handoff_or_a_didnt_help_on_its_last_answer(everything):
    in_period = [r for r in everything if PERIOD.start <= r.started_at < PERIOD.end]
    contained = [r for r in in_period if r.outcome == "contained"]
    assert all(r.path == "bot_only" and r.answers for r in contained)
    assert sorted(r.started_at.day for r in contained) == [16, 17, 18, 24, 28]
    didnt_help = [r for r in in_period if r.state == "didnt_help"]
    assert [(r.started_at.day, r.answers, r.verdicts) for r in didnt_help] == [(20, ("internet-outage",), (("internet-outage", False),))]
    # "didn't help" on the first answer, helpful on the last: contained
    refund = next(r for r in contained if "billing-refund" in r.answers)
    assert refund.verdicts == (("billing-refund", False), ("billing-refund-policy", True))
    # a greeting and a clarifying question are no answer, and not contained
    assert [r.state for r in in_period if r.started_at.day == 18 and r.started_at.hour == 12] == ["no_answer"]


def test_durable_resolutions_are_apart_from_the_assumed_ones(seeded, period_report):
    bot, agent = period_report["all"]["resolution"]["bot"], period_report["all"]["resolution"]["agent"]
    assert bot["of"] == 5 and rows(bot) == {"durable": (1, 20.0), "came_back": (3, 60.0), "assumed": (1, 20.0)}
    assert agent["of"] == 2 and rows(agent) == {"durable": (1, 50.0), "came_back": (1, 50.0), "assumed": (0, 0.0)}
    # a week later, the assumed one (no return yet) has become durable: it was never counted as durable before
    later = NOW + timedelta(days=7)
    bot_later = report(RequestLog(seeded.engine).requests(PERIOD, later), PERIOD, later)["all"]["resolution"]["bot"]
    assert rows(bot_later) == {"durable": (2, 40.0), "came_back": (3, 60.0), "assumed": (0, 0.0)}


def test_the_handoff_rate_by_reason_sums_to_100_with_the_requests_without_one(period_report):
    reasons = period_report["all"]["handoff_reasons"]
    assert [row["key"] for row in reasons["rows"]] == ["human_request", "low_confidence", "rude", "topic_policy", "none"]
    assert rows(reasons) == {"human_request": (2, 15.4), "low_confidence": (1, 7.7), "rude": (1, 7.7),
                             "topic_policy": (1, 7.7), "none": (8, 61.5)}
    assert reasons["of"] == 13 and percent_sum(reasons) == 100.0


def test_queue_wait_and_first_reply_p50_and_p90(period_report):
    block = period_report["all"]
    # claimed after 120, 600 and 1800 s; two stays never claimed
    assert block["queue_wait"] == {"measured": 3, "not_claimed": 2, "denominator": "stays with the humans",
                                   "p50_seconds": 600, "p90_seconds": 1800}
    # first replies after 180 and 720 s; three stays without one
    assert block["first_agent_reply"] == {"measured": 2, "no_reply": 3, "denominator": "stays with the humans",
                                          "p50_seconds": 180, "p90_seconds": 720}


def test_csat_is_split_into_bot_only_and_handed_off(period_report):
    csat = period_report["all"]["csat"]
    assert (csat["bot_only"]["satisfied"], csat["bot_only"]["responses"], csat["bot_only"]["percent"]) == (2, 4, 50.0)
    handed = csat["handed_off"]
    assert (handed["satisfied"], handed["responses"], handed["percent"], handed["average"]) == (1, 2, 50.0, 3.5)


def test_the_most_used_and_the_least_helpful_entries(period_report):
    entries = period_report["all"]["entries"]
    assert [(e["faq_id"], e["answers"]) for e in entries["most_used"]] == [
        ("billing-pay", 2), ("billing-einvoice", 1), ("billing-refund", 1), ("billing-refund-policy", 1),
        ("internet-outage", 1), ("plan-change", 1), ("roaming", 1)]
    assert [(e["faq_id"], e["not_helpful"], e["not_helpful_percent"]) for e in entries["least_helpful"]] == [
        ("billing-refund", 1, 100.0), ("internet-outage", 1, 100.0)]


def test_everything_per_language(period_report):
    languages = period_report["languages"]
    assert list(languages) == ["en", "et", "ru"]
    assert rows(languages["et"]["outcomes"]) == {"contained": (1, 33.4), "didnt_help": (1, 33.3), "no_answer": (0, 0.0),
                                                 "handed_off": (1, 33.3)}
    assert rows(languages["ru"]["outcomes"]) == {"contained": (3, 75.0), "didnt_help": (0, 0.0), "no_answer": (0, 0.0),
                                                 "handed_off": (1, 25.0)}
    assert rows(languages["en"]["outcomes"]) == {"contained": (1, 16.7), "didnt_help": (0, 0.0), "no_answer": (2, 33.3),
                                                 "handed_off": (3, 50.0)}
    assert sum(block["requests"] for block in languages.values()) == period_report["all"]["requests"]
    for block in languages.values():
        for partition in (block["outcomes"], block["handoff_reasons"]):
            assert percent_sum(partition) == 100.0
    assert languages["ru"]["queue_wait"]["not_claimed"] == 1 and languages["ru"]["queue_wait"]["p50_seconds"] is None
    assert languages["et"]["csat"]["handed_off"]["average"] == 5.0


def test_series_over_days_and_weeks(seeded):
    requests = RequestLog(seeded.engine).requests(PERIOD, NOW)
    days = series(requests, PERIOD, "day")
    assert len(days) == 14 and days[0]["period"] == "2026-11-16" and days[-1]["period"] == "2026-11-29"
    assert [d["requests"] for d in days] == [1, 1, 2, 1, 2, 0, 2, 1, 1, 0, 0, 1, 1, 0]
    assert days[4] == {"period": "2026-11-20", "requests": 2, "contained": 0, "didnt_help": 1, "no_answer": 0,
                       "handed_off": 1, "queue_wait_p50_seconds": 120, "queue_wait_p90_seconds": 120,
                       "first_agent_reply_p50_seconds": 180, "first_agent_reply_p90_seconds": 180}
    weeks = series(requests, PERIOD, "week")
    assert [(w["period"], w["requests"], w["contained"], w["handed_off"]) for w in weeks] == [
        ("2026-11-16", 9, 3, 3), ("2026-11-23", 4, 2, 2)]
    assert all(w["requests"] == w["contained"] + w["didnt_help"] + w["no_answer"] + w["handed_off"] for w in weeks)


def test_days_are_the_business_time_zones(tmp_path):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    store = HandoffStore.open(url, run_migrations=False)
    desk = Desk(store, MONDAY)
    conversation = store.conversation("telegram", "late").id
    desk.customer(conversation, desk.at(0, "22:30"), "Tere")  # 00:30 on Tuesday in Tallinn
    desk.bot(conversation, desk.at(0, "22:30:01"), "answer", "et", "billing-pay")
    tallinn = Period(MONDAY, MONDAY + timedelta(days=1), ZoneInfo("Europe/Tallinn"))
    assert [d["requests"] for d in series(RequestLog(store.engine).requests(tallinn, NOW), tallinn, "day")] == [0, 1]
    utc = Period(MONDAY, MONDAY, timezone.utc)
    assert len(RequestLog(store.engine).requests(utc, NOW)) == 1
    store.engine.dispose()


def test_a_second_stay_without_a_customer_message_between_begins_a_request(tmp_path):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    store = HandoffStore.open(url, run_migrations=False)
    desk = Desk(store, MONDAY)
    desk.agents["Mari"] = store.agents.create("mari", "Mari", "correct horse").id
    conversation = store.conversation("webchat", "x").id
    desk.customer(conversation, desk.at(0, "10:00"), "Tere")
    answer = desk.bot(conversation, desk.at(0, "10:00:01"), "answer", "et", "billing-pay")
    first = desk.hand_off(conversation, desk.at(0, "10:01"), "human_request", "et")
    desk.return_to_bot(conversation, first, "Mari", desk.at(0, "10:05"), "et")
    desk.verdict(conversation, answer, "billing-pay", False, desk.at(0, "10:06"))
    desk.hand_off(conversation, desk.at(0, "10:06:01"), "repeated_failure", "et")
    found = RequestLog(store.engine).requests(Period(None, NOW.date()), NOW)
    assert [(r.reason, r.state) for r in found] == [("human_request", "returned"), ("repeated_failure", "waiting")]
    assert found[1].id.endswith("-h2")
    store.engine.dispose()


def test_nothing_after_now_is_read(seeded):
    before = datetime(2026, 11, 20, 11, 30, tzinfo=timezone.utc)  # during the low-confidence stay, before its close
    found = RequestLog(seeded.engine).requests(Period(None, before.date()), before)
    low = next(r for r in found if r.reason == "low_confidence")
    assert (low.state, low.rating, low.messages) == ("agent", None, 4)
    assert max(r.started_at for r in found) <= before


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12).filter(any))
def test_largest_remainder_always_sums_to_100(counts):
    percents = largest_remainder(counts)
    assert round(sum(percents), 6) == 100.0
    for count, percent in zip(counts, percents):
        assert abs(percent - 100 * count / sum(counts)) < 0.1 + 1e-9


def test_percentages_of_nothing_are_none_and_nearest_rank_percentiles():
    assert largest_remainder([0, 0]) == [None, None]
    assert nearest_rank([], 50) is None
    assert nearest_rank([120, 600, 1800], 50) == 600 and nearest_rank([120, 600, 1800], 90) == 1800
    assert nearest_rank(list(range(1, 11)), 90) == 9 and nearest_rank(list(range(1, 11)), 50) == 5
    assert figures([], NOW)["outcomes"]["rows"][0] == {"key": "contained", "count": 0, "percent": None}


def test_a_period_is_whole_days_both_included():
    period = Period.parse("2026-11-16", "2026-11-29", timezone.utc, NOW)
    assert (period.start, period.end) == (datetime(2026, 11, 16, tzinfo=timezone.utc), datetime(2026, 11, 30, tzinfo=timezone.utc))
    assert Period.parse(None, None, timezone.utc, NOW, 28).first == date(2026, 11, 5)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Period.parse("16.11.2026", None, timezone.utc, NOW)
    with pytest.raises(ValueError, match="ends before"):
        Period.parse("2026-11-29", "2026-11-16", timezone.utc, NOW)
    with pytest.raises(ValueError, match="out of the calendar"):
        Period.parse("2026-11-16", "9999-12-31", timezone.utc, NOW)
    with pytest.raises(ValueError, match="at most 1000 days: choose a shorter period or weeks"):
        series([], Period.parse("2020-01-01", "2026-11-29", timezone.utc, NOW), "day")
    assert len(series([], Period.parse("2020-01-01", "2026-11-29", timezone.utc, NOW), "week")) == 361


def test_every_definition_is_written_in_the_docs():
    written = " ".join(DOCS.read_text(encoding="utf-8").split())
    for key, definition in DEFINITIONS.items():
        assert " ".join(definition.split()) in written, key


async def test_the_analytics_api_is_for_admins_and_is_the_same_report(aiohttp_client, tmp_path):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    app = gateway_app(url, FakeBot())
    seed(app[ROUTER_KEY].store)
    client = await aiohttp_client(app)
    assert (await client.post("/console/api/login", json={"username": "jaan", "password": "correct horse"})).status == 200
    for path in ("/console/api/analytics", "/console/api/analytics/charts/outcomes.svg"):
        refused = await client.get(path)
        assert refused.status == 403, path
    assert (await client.get("/console/api/requests")).status == 200  # the log is for every agent

    await client.post("/console/api/logout", json={})
    assert (await client.post("/console/api/login", json={"username": "mari", "password": "correct horse"})).status == 200
    answer = await client.get("/console/api/analytics", params={"since": "2026-11-16", "until": "2026-11-29", "by": "week"})
    assert answer.status == 200
    body = await answer.json()
    assert (body["since"], body["until"], body["by"], body["time_zone"]) == ("2026-11-16", "2026-11-29", "week", "Europe/Tallinn")
    assert body["definitions"] == DEFINITIONS
    assert rows(body["all"]["outcomes"])["contained"][0] == 5 and body["all"]["requests"] == 13
    assert [w["requests"] for w in body["all"]["series"]] == [9, 4]

    chart = await client.get("/console/api/analytics/charts/outcomes.svg",
                             params={"since": "2026-11-16", "until": "2026-11-29", "language": "et"})
    assert chart.status == 200 and chart.content_type == "image/svg+xml"
    svg = await chart.text()
    assert svg.startswith("<svg") and "<script" not in svg and "style" not in svg
    assert "<title>11-20 didn't help: 1</title>" in svg and "<title>11-16 contained: 1</title>" in svg
    assert not re.search(r"<title>11-1[789] ", svg)  # nothing in et on those days
    assert (await client.get("/console/api/analytics/charts/pie.svg")).status == 404
    assert (await client.get("/console/api/analytics/charts/outcomes.svg", params={"language": "fi"})).status == 404
    assert (await client.get("/console/api/analytics", params={"since": "yesterday"})).status == 400
    assert (await client.get("/console/api/analytics", params={"by": "month"})).status == 400
