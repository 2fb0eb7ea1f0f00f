"""The console's Requests and Analytics pages in headless Chromium against the real gateway (a stand-in bot) on a
seeded database (tests/seeded_requests.py): what the pages show is what the API answers, the CSV downloaded from
the page is the API's rows, a transcript opens, an agent gets no Analytics; screenshots of both pages are kept in
var/test-artifacts/."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from app_thread import AppThread
from fake_bot import FakeBot
from helpers import gateway_app
from playwright.sync_api import expect
from seeded_requests import seed

from browser import browser, page  # noqa: F401  (pytest fixtures)
from handoff.analytics import EXPORT_COLUMNS, format_seconds
from handoff.console.app import ROUTER_KEY
from handoff.db import migrate

PASSWORD = "correct horse"
ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"
MONDAY = (datetime.now(timezone.utc) - timedelta(days=16)).date()  # the desk's last request is two days old
ROW_COLUMNS = ("started_at", "channel", "language", "path", "reason", "agent", "queue_seconds",
               "first_agent_reply_seconds", "state", "rating", "messages")


def day(offset: int) -> str:
    return (MONDAY + timedelta(days=offset)).isoformat()


@pytest.fixture
def gateway(tmp_path):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    app = gateway_app(url, FakeBot())
    seed(app[ROUTER_KEY].store, MONDAY)
    with AppThread(app) as running:
        yield running


def sign_in(page, running: AppThread, username: str) -> None:
    page.goto(running.base + "/console/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("logout")).to_be_visible()


def api(page, running: AppThread, path: str, **params: str) -> Any:
    """The API's answer with the page's session."""
    reply = page.request.get(running.base + "/console/api" + path, params=params)
    assert reply.ok, (path, reply.status, reply.text())
    return reply.json()


def loaded(page, times: int) -> None:
    expect(page.locator("body")).to_have_attribute("data-loaded", str(times))


def shown(value: Any, kind: str) -> str:
    """A figure as the pages write it (reports-common.js)."""
    if value is None:
        return "–"
    if kind == "percent":
        return f"{value:.1f} %"
    if kind == "seconds":
        return format_seconds(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def value_at(block: Any, path: str) -> Any:
    for key in path.split("/"):
        if isinstance(block, list):
            block = block[int(key)]
        elif key in block:
            block = block[key]
        else:
            block = next(row for row in block["rows"] if row["key"] == key)
    return block


def figures_on(page):
    return page.eval_on_selector_all("[data-figure]", """nodes => nodes.map(n => ({
        block: n.dataset.block, path: n.dataset.figure, kind: n.dataset.kind, text: n.textContent }))""")


def assert_figures_match(page, answer, blocks) -> int:
    compared = 0
    for item in figures_on(page):
        if item["block"] not in blocks:
            continue
        source = answer["all"] if item["block"] == "all" else answer["languages"][item["block"]]
        expected = shown(value_at(source, item["path"]), item["kind"])
        assert item["text"] == expected, item
        compared += 1
    return compared


def test_the_requests_page_shows_what_the_api_says_exports_it_and_opens_a_transcript(gateway, page):  # noqa: F811
    sign_in(page, gateway, "mari")
    page.get_by_test_id("nav-requests").click()
    expect(page).to_have_url(gateway.base + "/console/requests")
    loaded(page, 1)
    everything = api(page, gateway, "/requests", limit="50")
    expect(page.get_by_test_id("requests-total")).to_have_text(str(everything["total"]))
    expect(page.get_by_test_id("requests-in-period")).to_have_text("15")
    rows = page.get_by_test_id("requests-row")
    expect(rows).to_have_count(15)
    assert [rows.nth(i).get_attribute("data-request-id") for i in range(15)] == [r["id"] for r in everything["requests"]]
    for index, request in enumerate(everything["requests"]):
        row = rows.nth(index)
        for column in ROW_COLUMNS:
            value = request[column]
            assert row.locator(f'[data-column="{column}"]').get_attribute("data-value") == ("" if value is None else str(value))
        queue = request["queue_seconds"]
        assert row.locator('[data-column="queue_seconds"]').text_content() == ("" if queue is None else format_seconds(queue))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "requests-page.png"
    screenshot.unlink(missing_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    page.get_by_test_id("filter-language").select_option("ru")
    page.get_by_test_id("filter-apply").click()
    loaded(page, 2)
    expect(page.get_by_test_id("requests-total")).to_have_text(str(api(page, gateway, "/requests", language="ru")["total"]))
    expect(rows).to_have_count(5)

    page.get_by_test_id("filter-reset").click()
    loaded(page, 3)
    page.get_by_test_id("filter-since").fill(day(0))
    page.get_by_test_id("filter-language").select_option("en")
    page.get_by_test_id("filter-q").fill("refund")
    page.get_by_test_id("filter-apply").click()
    loaded(page, 4)
    found = api(page, gateway, "/requests", since=day(0), language="en", q="refund")
    expect(page.get_by_test_id("requests-total")).to_have_text(str(found["total"]))
    expect(rows).to_have_count(2)
    expect(rows.first.locator('[data-column="snippet"]')).to_have_text("How do I get a refund? Write to [e-mail]")
    assert "carl@example.com" not in page.content()

    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [list(row) for row in exported] == [list(EXPORT_COLUMNS)] * 2
    assert exported == [{c: "" if r[c] is None else str(r[c]) for c in EXPORT_COLUMNS} for r in found["requests"]]

    rows.first.get_by_test_id("open-transcript").click()
    expect(page).to_have_url(f"{gateway.base}/console/#conversation-{found['requests'][0]['conversation_id']}")
    expect(page.get_by_test_id("transcript")).to_contain_text("How do I get a refund? Write to carl@example.com")
    assert page.js_errors == []


def test_the_analytics_page_shows_the_apis_figures_and_definitions(gateway, page):  # noqa: F811
    sign_in(page, gateway, "mari")
    page.get_by_test_id("nav-analytics").click()
    expect(page).to_have_url(gateway.base + "/console/analytics")
    loaded(page, 1)
    page.get_by_test_id("control-since").fill(day(0))
    page.get_by_test_id("control-until").fill(day(13))
    page.get_by_test_id("control-by").select_option("week")
    page.get_by_test_id("control-apply").click()
    loaded(page, 2)
    answer = api(page, gateway, "/analytics", since=day(0), until=day(13), by="week")
    assert answer["all"]["requests"] == 13

    assert assert_figures_match(page, answer, {"all", "en", "et", "ru"}) > 100
    expect(page.get_by_test_id("containment")).to_contain_text("38.5 % contained: 5 of 13 requests started in the period")
    expect(page.locator('#outcomes tr[data-key="handed_off"] td').nth(1)).to_have_text("38.4 %")
    for node in page.locator("[data-definition]").all():
        assert node.text_content() == answer["definitions"][node.get_attribute("data-definition")]
    for chart in ("chart-outcomes", "chart-waits"):
        image = page.get_by_test_id(chart)
        expect(image).to_have_attribute("src", f"/console/api/analytics/charts/{chart[6:]}.svg"
                                               f"?since={day(0)}&until={day(13)}&by=week")
        page.wait_for_function("id => document.getElementById(id).complete", arg=chart)
        assert image.evaluate("img => img.naturalWidth") > 0

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "analytics-page.png"
    screenshot.unlink(missing_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    page.get_by_test_id("control-language").select_option("et")
    expect(page.locator("body")).to_have_attribute("data-block", "et")
    expect(page.get_by_test_id("containment")).to_contain_text("33.4 % contained: 1 of 3")
    assert assert_figures_match(page, answer, {"et"}) > 40
    expect(page.get_by_test_id("chart-outcomes")).to_have_attribute(
        "src", f"/console/api/analytics/charts/outcomes.svg?since={day(0)}&until={day(13)}&by=week&language=et")
    assert page.js_errors == []


def test_an_agent_gets_no_analytics_nor_its_link(gateway, page):  # noqa: F811
    sign_in(page, gateway, "jaan")
    expect(page.get_by_test_id("nav-requests")).to_be_visible()
    expect(page.get_by_test_id("nav-analytics")).to_be_hidden()
    refused = page.request.get(gateway.base + "/console/api/analytics")
    assert refused.status == 403 and refused.json() == {"error": "only an admin may do this"}
    page.goto(gateway.base + "/console/analytics")
    expect(page.get_by_test_id("not-admin")).to_be_visible()
    expect(page.get_by_test_id("nav-analytics")).to_be_hidden()
    page.get_by_text("Requests", exact=True).click()
    loaded(page, 1)
    expect(page.get_by_test_id("requests-total")).to_have_text("15")
    expect(page.get_by_test_id("nav-analytics")).to_be_hidden()
    assert page.js_errors == []
