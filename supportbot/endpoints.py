"""The Rasa endpoints file for one run: the action server, the tracker store on the project's database,
and a Redis lock store when REDIS_URL is set (needed as soon as several Rasa servers share the conversations)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict
from urllib.parse import urlparse

import yaml
from sqlalchemy.engine import make_url

from handoff.db import tracker_database_path
from supportbot.settings import Settings


def tracker_store_config(database_url: str) -> Dict[str, Any]:
    """On SQLite, Rasa's trackers get a file of their own beside the handoff database: two processes writing one
    SQLite file wait for each other's locks, in sleeps of up to 100 ms, which made the slowest replies under
    load take seconds (docs/performance.md). With one writer per file, neither waits."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {"type": "SQL", "dialect": "sqlite", "db": tracker_database_path(url.database)}
    config: Dict[str, Any] = {"type": "SQL", "dialect": url.drivername, "db": url.database}
    for key, value in (("url", url.host), ("port", url.port), ("username", url.username), ("password", url.password)):
        if value:
            config[key] = value
    return config


def lock_store_config(redis_url: str) -> Dict[str, Any]:
    url = urlparse(redis_url)
    config: Dict[str, Any] = {"type": "redis", "url": url.hostname or "127.0.0.1", "port": url.port or 6379,
                              "db": int((url.path or "/0").lstrip("/") or 0), "key_prefix": "supportbot"}
    if url.password:
        config["password"] = url.password
    return config


def write_endpoints(settings: Settings, path: Path) -> Path:
    endpoints: Dict[str, Any] = {
        "action_endpoint": {"url": f"http://127.0.0.1:{settings.action_port}/webhook"},
        "tracker_store": tracker_store_config(settings.database_url),
    }
    if settings.redis_url:
        endpoints["lock_store"] = lock_store_config(settings.redis_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the tracker store's URL may hold the database password: readable by the owner only
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)  # also when the file was there before, readable by others
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(yaml.safe_dump(endpoints, sort_keys=False))
    return path
