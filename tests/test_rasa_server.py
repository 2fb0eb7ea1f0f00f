"""The live Rasa server's speed-ups (bot/server.py) keep Rasa's behaviour: a valid action server reply passes,
an invalid one is refused with Rasa's own error."""
from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot.server import check_action_replies_with_one_validator


def test_action_replies_are_still_validated_after_the_speed_up():
    check_action_replies_with_one_validator()
    check_action_replies_with_one_validator()  # twice is harmless
    action = RemoteAction("action_answer_faq", EndpointConfig("http://127.0.0.1:1/webhook"))
    assert action._validate_action_result({"events": [{"event": "slot", "name": "language", "value": "et"}],
                                           "responses": [{"text": "Tere"}]})
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": [{"event": "no-such-event"}], "responses": []})
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": "not a list"})


def test_on_sqlite_rasa_writes_its_trackers_to_a_file_of_its_own():
    from supportbot.endpoints import tracker_store_config

    config = tracker_store_config("sqlite:////srv/bot/var/supportbot.db")
    assert config == {"type": "SQL", "dialect": "sqlite", "db": "/srv/bot/var/supportbot-tracker.db"}
    postgres = tracker_store_config("postgresql://bot@127.0.0.1:5432/test")
    assert (postgres["dialect"], postgres["db"], postgres["url"]) == ("postgresql", "test", "127.0.0.1")


def test_start_up_is_not_ready_until_a_real_message_is_answered(monkeypatch):
    import pytest as _pytest

    from supportbot import stack

    monkeypatch.setattr(stack, "send", lambda url, sender, text, timeout=60.0: [])
    with _pytest.raises(RuntimeError, match="did not answer a test question"):
        stack.round_trip("http://127.0.0.1:1/webhooks/rest/webhook")
    monkeypatch.setattr(stack, "send", lambda url, sender, text, timeout=60.0: [{"text": "…", "custom": {"kind": "answer"}}])
    stack.round_trip("http://127.0.0.1:1/webhooks/rest/webhook")


def test_rasa_telemetry_is_off_in_every_process_of_the_stack():
    from supportbot.settings import Settings

    assert Settings().child_environment()["RASA_TELEMETRY_ENABLED"] == "false"


def test_the_first_run_makes_a_rest_token_once_readable_by_its_owner_only(tmp_path, monkeypatch):
    import stat

    from supportbot.settings import Settings
    from supportbot.stack import ensure_rest_token, rest_token_file

    monkeypatch.delenv("REST_API_TOKEN", raising=False)
    settings = Settings(project_root=tmp_path, rest_api_token="")
    made = ensure_rest_token(settings)
    assert made and settings.rest_api_token == made and len(made) >= 32
    assert stat.S_IMODE(rest_token_file(settings).stat().st_mode) == 0o600
    again = Settings(project_root=tmp_path, rest_api_token="")
    assert ensure_rest_token(again) is None and again.rest_api_token == made  # shown once, then kept
    given = Settings(project_root=tmp_path, rest_api_token="from-the-environment")
    assert ensure_rest_token(given) is None and given.rest_api_token == "from-the-environment"
    assert given.child_environment()["REST_API_TOKEN"] == "from-the-environment"
