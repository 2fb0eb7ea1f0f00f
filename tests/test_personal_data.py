"""Personal data masked in logs and analytics (signals/personal_data.py): what is masked, what is left alone, the
log filter on real loggers, and the statistics outputs, which must hold no customer text."""
from __future__ import annotations

import io
import logging

import pytest
from fake_bot import FakeBot
from helpers import REST_AUTH, gateway_app

from signals import personal_data
from handoff.console.app import ROUTER_KEY
from signals.personal_data import (EMAIL_MASK, PERSONAL_CODE_MASK, PHONE_MASK, PersonalDataFilter, install_log_masking,
                                   mask_personal_data, valid_personal_code)
from handoff.store import HandoffStore
from supportbot import cli

EMAIL = "mari.maasikas@example.ee"
PHONE = "+372 5123 4567"
PERSONAL_CODE = "37605030299"
CUSTOMER_MESSAGE = f"Tere! Minu e-post on {EMAIL}, telefon {PHONE} ja isikukood {PERSONAL_CODE}."


@pytest.mark.parametrize("code", ["37605030299", "49403136526", "60001019906", "10001010002", "52402290127", "39001010110"])
def test_valid_personal_codes(code):
    assert valid_personal_code(code)  # 39001010110: the check digit from the second set of weights


@pytest.mark.parametrize("code", [
    "37605030290",   # wrong check digit
    "77605030299",   # first digit 7: no such century
    "37613030292",   # month 13
    "38002300008",   # 30 February
    "52302290120",   # 29 February 2023
    "3760503029",    # ten digits
])
def test_invalid_personal_codes(code):
    assert not valid_personal_code(code)


@pytest.mark.parametrize("text, masked", [
    ("write to mari.maasikas@example.ee please", f"write to {EMAIL_MASK} please"),
    ("e-mail: Ivan_Petrov+support@mail.ru.", f"e-mail: {EMAIL_MASK}."),
    ("jüri@näide.ee", EMAIL_MASK),
    ("minu isikukood on 37605030299", f"minu isikukood on {PERSONAL_CODE_MASK}"),
    ("IK:49403136526,", f"IK:{PERSONAL_CODE_MASK},"),
    # Estonian
    ("helistage +372 5123 4567", f"helistage {PHONE_MASK}"),
    ("+37251234567", PHONE_MASK),
    ("00372 5123 4567", PHONE_MASK),
    ("minu number on 5123 4567.", f"minu number on {PHONE_MASK}."),
    ("mob 51234567", f"mob {PHONE_MASK}"),
    ("512 3456", PHONE_MASK),
    ("8123 4567", PHONE_MASK),
    ("tel 6123456", f"tel {PHONE_MASK}"),
    ("kontor 612 3456", f"kontor {PHONE_MASK}"),
    # Russian
    ("+7 (916) 123-45-67", PHONE_MASK),
    ("+7 916 123 45 67", PHONE_MASK),
    ("8 (916) 123-45-67", PHONE_MASK),
    ("8-916-123-45-67", PHONE_MASK),
    ("звоните 89161234567", f"звоните {PHONE_MASK}"),
    ("(916) 123-45-67", PHONE_MASK),
    ("мой номер 916 123 45 67", f"мой номер {PHONE_MASK}"),
    # international
    ("+44 20 7946 0958", PHONE_MASK),
    ("+1 (415) 555-2671", PHONE_MASK),
    ("+358401234567", PHONE_MASK),
    # cards, through signals.card_numbers
    ("card 4111 1111 1111 1111", "card •••• •••• •••• 1111"),
    (CUSTOMER_MESSAGE, f"Tere! Minu e-post on {EMAIL_MASK}, telefon {PHONE_MASK} ja isikukood {PERSONAL_CODE_MASK}."),
])
def test_personal_data_is_masked(text, masked):
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize("text", [
    # order, invoice and contract numbers
    "order 51234567", "order number 5123 4567", "tellimuse nr. 51234567", "arve nr 5123456", "viitenumber 51234567",
    "заказ № 5123 4567", "номер договора: 1234567890", "#51234567", "contract 1234567890", "invoice 37605030290",
    "ticket 6123456",
    # amounts
    "paid 5000000 €", "59.99 €", "5 123,45 eurot", "1500 руб", "price 4 500 €", "5,1234567",
    # dates and times
    "on 12.05.2024 at 14:30", "2024-05-12", "10:00-18:00", "12/05/2024", "1.05.2024 kell 9.30",
    # plain short numbers, and longer ones that are no phone
    "I have 3 routers and 12 TVs", "speed 500 Mbit", "code 12345", "6123456", "PIN 1234", "123456789",
    "isikukood 37605030290", "version 3.6.21", "IP 46.101.22.33", "+5.5 degrees", "0012345678",
    # the gateway's own log lines
    "message 5123456 to telegram failed", "conversation 51234567 is already with the humans",
    # no address
    "user@localhost", "@mari", "a@b",
])
def test_numbers_and_words_that_are_not_personal_data_stay(text):
    assert mask_personal_data(text) == text


def test_masking_keeps_empty_texts():
    assert mask_personal_data("") == ""
    assert mask_personal_data(None) is None  # type: ignore[arg-type]


def recording_logger(name: str):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, handler, stream


def test_the_log_filter_masks_the_final_message_and_the_exception():
    logger, handler, stream = recording_logger("test.personal_data.filter")
    handler.addFilter(PersonalDataFilter())
    logger.info("customer %s wrote: %s", "webchat:abc", CUSTOMER_MESSAGE)
    logger.warning(CUSTOMER_MESSAGE)
    try:
        raise ValueError(f"cannot reach {EMAIL}")
    except ValueError:
        logger.exception("failed for %s", PHONE)
    written = stream.getvalue()
    for secret in (EMAIL, PHONE, PERSONAL_CODE, "5123 4567"):
        assert secret not in written
    assert f"INFO test.personal_data.filter: customer webchat:abc wrote: Tere! Minu e-post on {EMAIL_MASK}, " \
           f"telefon {PHONE_MASK} ja isikukood {PERSONAL_CODE_MASK}." in written
    assert f"failed for {PHONE_MASK}" in written and f"ValueError: cannot reach {EMAIL_MASK}" in written
    assert "Traceback" in written


@pytest.fixture
def log_masking(monkeypatch):
    """install_log_masking() for one test; the process's record factory is restored afterwards."""
    factory = logging.getLogRecordFactory()
    monkeypatch.setattr(personal_data, "log_record_filter", None)
    logging.setLogRecordFactory(logging.LogRecord)  # as if nothing had installed it before, in this test process
    install_log_masking()
    install_log_masking()  # a second call changes nothing
    yield
    logging.setLogRecordFactory(factory)


def test_installed_masking_reaches_every_logger_and_handler(log_masking):
    # a handler added after the installation, on a child logger whose records propagate: as Rasa and Sanic do
    parent, _, stream = recording_logger("test.personal_data.installed")
    child = logging.getLogger("test.personal_data.installed.child")
    child.setLevel(logging.DEBUG)
    parent.setLevel(logging.DEBUG)
    child.debug("Received user message '%s' with intent '%s'", CUSTOMER_MESSAGE, "faq")
    child.error("%s", {"text": f"call me at {PHONE}", "email": EMAIL})
    written = stream.getvalue()
    assert EMAIL not in written and PHONE not in written and PERSONAL_CODE not in written
    assert written.count(EMAIL_MASK) == 2 and written.count(PHONE_MASK) == 2 and PERSONAL_CODE_MASK in written
    assert "with intent 'faq'" in written


def test_the_cli_installs_the_masking(monkeypatch, tmp_path, capsys):
    factory = logging.getLogRecordFactory()
    monkeypatch.setattr(personal_data, "log_record_filter", None)
    logging.setLogRecordFactory(logging.LogRecord)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'supportbot.db'}")
    try:
        assert cli.main(["customers", "forget", "webchat", "nobody"]) == 0
        record = logging.getLogger("test.personal_data.cli").makeRecord(
            "test.personal_data.cli", logging.WARNING, __file__, 1, "mail %s", (EMAIL,), None)
        assert record.getMessage() == f"mail {EMAIL_MASK}"
    finally:
        logging.setLogRecordFactory(factory)


def start_gateway(monkeypatch) -> None:
    from supportbot import gateway

    monkeypatch.setattr(gateway, "build_app", lambda *args, **kwargs: None)
    monkeypatch.setattr(gateway.web, "run_app", lambda *args, **kwargs: None)
    gateway.main([])


def start_action_server(monkeypatch) -> None:
    import rasa_sdk.__main__

    from supportbot import action_server

    monkeypatch.setattr(action_server, "prepare", lambda settings: None)
    monkeypatch.setattr(rasa_sdk.__main__, "main", lambda: None)
    monkeypatch.setattr("sys.argv", ["action_server"])
    monkeypatch.setenv("SANIC_HOST", "127.0.0.1")  # main() sets it otherwise, for the rest of the tests
    action_server.main()


def start_rasa_server(monkeypatch) -> None:
    import rasa.__main__

    from bot import server

    for tuning in ("check_action_replies_with_one_validator", "tune_sqlite_tracker_store", "freeze_after_loading_the_model"):
        monkeypatch.setattr(server, tuning, lambda: None)
    monkeypatch.setattr(rasa.__main__, "main", lambda: None)
    monkeypatch.setattr("sys.argv", ["server", "run"])
    server.main()


@pytest.mark.parametrize("start", [start_gateway, start_action_server, start_rasa_server])
def test_every_process_installs_the_masking(start, monkeypatch):
    factory = logging.getLogRecordFactory()
    monkeypatch.setattr(personal_data, "log_record_filter", None)
    logging.setLogRecordFactory(logging.LogRecord)
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))  # basicConfig adds one
    try:
        start(monkeypatch)
        record = logging.getLogger("rasa.core.processor").makeRecord(
            "rasa.core.processor", logging.DEBUG, __file__, 1, "Received user message '%s'", (CUSTOMER_MESSAGE,), None)
        assert EMAIL not in record.getMessage() and PHONE_MASK in record.getMessage()
    finally:
        logging.setLogRecordFactory(factory)


def seed_personal_data(store: HandoffStore) -> None:
    conversation = store.conversation("webchat", "anna-session-0001")
    store.note_customer(conversation.id, name="Anna Tamm", language="et")
    store.add_message(conversation.id, "customer", CUSTOMER_MESSAGE)
    answer = store.add_message(conversation.id, "bot", f"Saatsin kinnituse aadressile {EMAIL}",
                               payload={"custom": {"kind": "answer", "faq_id": "billing-payment-methods"}})
    store.record_feedback(conversation.id, answer.id, "billing-payment-methods", False)
    store.hand_off(conversation.id, "human_request", packet={"question": CUSTOMER_MESSAGE, "customer_name": "Anna Tamm"})
    agent = store.agents.create("mari", "Mari", "correct horse")
    store.claim(conversation.id, agent.id)
    store.close(conversation.id, resolution=f"called back on {PHONE}")
    store.rate(conversation.id, 4)


def assert_no_customer_text(output: str) -> None:
    for secret in (EMAIL, PHONE, PERSONAL_CODE, "Anna", "anna-session", "Tere", "called back"):
        assert secret not in output, f"{secret!r} in the statistics"


def test_supportbot_stats_holds_no_customer_text(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    store = HandoffStore.open(url)
    seed_personal_data(store)
    assert cli.main(["stats"]) == 0
    output = capsys.readouterr().out
    assert "billing-payment-methods" in output and "human_request: 1, rated 4.0" in output
    assert_no_customer_text(output)
    store.engine.dispose()


async def test_the_console_statistics_hold_no_customer_text(database_url, aiohttp_client):
    app = gateway_app(database_url, FakeBot())
    seed_personal_data(app[ROUTER_KEY].store)
    client = await aiohttp_client(app, headers=REST_AUTH)
    assert (await client.post("/console/api/login", json={"username": "mari", "password": "correct horse"})).status == 200
    reply = await client.get("/console/api/stats")
    assert reply.status == 200
    output = await reply.text()
    assert "billing-payment-methods" in output and "human_request" in output
    assert_no_customer_text(output)
