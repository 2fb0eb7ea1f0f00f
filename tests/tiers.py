"""The suite's tiers and the services some of them need.

Every test gets its tier marks from the fixtures it uses (tests/conftest.py): `live` (the real stack, through
`live_bot`), `browser` (headless Chromium, through `page` or `browser`), `postgres` (`postgres_url`, and the
PostgreSQL case of `database_url`) and `redis` (`redis_url`). Modules that start servers themselves say so
with `pytestmark`. A test with none of these marks and without `slow` is a `unit` test.

Without PostgreSQL or Redis their tests are skipped, saying which service at which address was missing;
under CI=true they fail instead, since there the services are part of the job."""
from __future__ import annotations

import os
import socket
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

TIERS = ("live", "browser", "postgres", "redis")
SERVICES = ("postgres", "redis")

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
SERVICE_URLS = {"postgres": (POSTGRES_URL, "TEST_POSTGRES_URL", 5432), "redis": (REDIS_URL, "TEST_REDIS_URL", 6379)}

# name of a fixture -> the marks a test using it gets
MARKS_BY_FIXTURE: Dict[str, Tuple[str, ...]] = {
    "live_bot": ("live",),
    "page": ("browser",),
    "browser": ("browser",),
    "postgres_url": ("postgres",),
    "redis_url": ("redis",),
}


def marks_for(fixture_names, database_param: Optional[str] = None) -> Tuple[str, ...]:
    """The tier marks of a test that uses these fixtures (`database_param`: its `database_url` case, if any)."""
    marks = {mark for name in fixture_names for mark in MARKS_BY_FIXTURE.get(name, ())}
    if database_param == "postgresql":
        marks.add("postgres")
    return tuple(sorted(marks))


def is_ci(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").strip().lower() == "true"


def address(url: str, default_port: int) -> Tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def unreachable(host: str, port: int, timeout: float = 2.0) -> Optional[str]:
    """Why nothing answers on host:port, or None when something does."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as error:
        return str(error) or type(error).__name__


def when_missing(service: str, url: str, variable: str, reason: str, environ: Mapping[str, str]) -> Tuple[str, str]:
    """What a test needing a service that does not answer does: ("skip" or "fail", the message)."""
    host, port = address(url, SERVICE_URLS[service][2])
    name = {"postgres": "PostgreSQL", "redis": "Redis"}[service]
    message = f"{name} is not reachable at {host}:{port} ({variable}={url}): {reason}"
    if is_ci(environ):
        return "fail", f"{message}; CI=true, so the {name} tests must run"
    return "skip", f"{message}; start it, or deselect these tests with -m 'not {service}'"
