"""Starts and stops the processes of the live bot: the Rasa server and the action server.
Trains the Rasa model when the training data changed, and reindexes when the knowledge changed."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from handoff.db import migrate, tracker_database_path
from supportbot.endpoints import write_endpoints
from supportbot.settings import Settings, rasa_webhook

# late imports: the encoders, the indexing and the sentiment model take seconds to import, and only the commands
# that start a bot need them (ensure_index, ensure_sentiment_model)

log = logging.getLogger(__name__)

TRAINING_INPUTS = ("config.yml", "domain.yml", "bot/data", "bot/nlu")
PROCESS_LABELS = {"actions": "action server", "rasa": "Rasa server", "gateway": "gateway"}
MAX_RESTART_DELAY_SECONDS = 30.0
RESTART_MEMORY_SECONDS = 600.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def training_fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def ensure_model(settings: Settings, force: bool = False) -> Path:
    """Train the Rasa model unless one trained from the same inputs exists, and fit the sentiment model unless
    it is cached: neither may wait for the first customer."""
    ensure_sentiment_model(settings)
    fingerprint = training_fingerprint(settings.project_root)
    stamp = settings.model_dir / "supportbot.fingerprint"
    if not force and settings.model_path.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return settings.model_path
    print("==> training the Rasa model (the training data changed)", file=sys.stderr, flush=True)
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "rasa", "train",
        "--config", "config.yml", "--domain", "domain.yml", "--data", "bot/data",
        "--out", str(settings.model_dir), "--fixed-model-name", "supportbot", "--force",
    ]
    subprocess.run(command, cwd=settings.project_root, env=settings.child_environment(), check=True, stdout=sys.stderr)
    stamp.write_text(fingerprint)
    return settings.model_path


def ensure_sentiment_model(settings: Settings) -> None:
    from knowledge.encoders import load_encoder
    from signals.sentiment.detector import SentimentDetector
    from signals.sentiment.fitting import cached_model_path

    encoder = load_encoder(settings.encoder)
    if not cached_model_path(settings.model_dir, encoder.name).exists():
        print("==> fitting the sentiment model (once; about a minute)", file=sys.stderr, flush=True)
    SentimentDetector(encoder=encoder, model_dir=settings.model_dir)


def ensure_index(settings: Settings) -> str:
    """Reindex when the knowledge (or the calibration) changed, behind the golden questions as `supportbot index`
    (knowledge.publishing.ensure_published); return what was done."""
    from knowledge.encoders import load_encoder
    from knowledge.publishing import ensure_published

    return ensure_published(settings.knowledge_dir, settings.index_dir, load_encoder(settings.encoder))


def rest_token_file(settings: Settings) -> Path:
    return settings.project_root / "var" / "rest-api-token"


def ensure_rest_token(settings: Settings) -> Optional[str]:
    """Give `settings` the REST channel's token: REST_API_TOKEN, or the one kept in var/rest-api-token (0600),
    made on the first run. Returns the token when it was just made (to be shown once), else None."""
    if settings.rest_api_token:
        return None
    path = rest_token_file(settings)
    if path.exists():
        settings.rest_api_token = path.read_text(encoding="utf-8").strip()
        return None
    import secrets

    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    settings.rest_api_token = token
    return token


def private_settings(base: Settings, **overrides) -> Settings:
    """Settings for a bot of its own (tests, benchmarks, `supportbot ask`): free ports, index and model ready, and
    no Telegram: a private bot must not take the updates of the real one, whatever TELEGRAM_TOKEN the shell has.
    `base`: the configuration it differs from (the caller's)."""
    import secrets

    overrides.setdefault("telegram_token", "")
    if not base.rest_api_token:
        overrides.setdefault("rest_api_token", secrets.token_urlsafe(24))
    settings = base.with_overrides(
        rasa_port=free_port(), action_port=free_port(), gateway_port=free_port(), **overrides)
    ensure_index(settings)
    ensure_model(settings)
    return settings


def scratch_database(path: Path) -> str:
    """A SQLite database that starts empty (with Rasa's tracker file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_database(path)
    return f"sqlite:///{path}"


def remove_database(path: Path) -> None:
    for database in (path, Path(tracker_database_path(str(path)))):
        for file in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
            file.unlink(missing_ok=True)


def _wait_http(url: str, process: subprocess.Popen, timeout: float, name: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{name} did not answer at {url} within {timeout:.0f} s")


class Stack:
    """The running bot. Use as a context manager: every started process is stopped on exit."""

    def __init__(self, settings: Settings, quiet: bool = False, log_dir: Optional[Path] = None):
        """`quiet`: the processes' output is dropped; `log_dir`: it goes to one file per process there; neither:
        it goes to this terminal."""
        self.settings = settings
        self.quiet = quiet
        self.log_dir = log_dir
        self.processes: List[subprocess.Popen] = []
        self.commands: List[Tuple[str, List[str]]] = []  # (name, command) of each process, for restarts
        self.log_files: List[Path] = []
        self.rasa_urls: List[str] = []

    def _start(self, command: List[str], name: str) -> subprocess.Popen:
        process = self._spawn(name, command, restart=False)
        self.processes.append(process)
        self.commands.append((name, command))
        return process

    def _spawn(self, name: str, command: List[str], restart: bool) -> subprocess.Popen:
        output = subprocess.DEVNULL if self.quiet else None
        if self.log_dir is not None and not self.quiet:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            path = self.log_dir / f"{name}.log"
            if not restart:
                self.log_files.append(path)
            output = open(path, "ab" if restart else "wb")  # a restart keeps the log of the crash
        env = self.settings.child_environment()
        if self.quiet or self.log_dir is not None:
            env.setdefault("PYTHONWARNINGS", "ignore")  # Rasa's dependencies' deprecation warnings, hundreds
        process = subprocess.Popen(command, cwd=self.settings.project_root, env=env, stdout=output, stderr=output,
                                   start_new_session=True)
        if output not in (None, subprocess.DEVNULL):
            output.close()
        return process

    def start(self, timeout: float = 240.0) -> "Stack":
        s = self.settings
        migrate(s.database_url)
        endpoints = write_endpoints(s, s.project_root / "var" / "run" / f"endpoints-{s.rasa_port}.yml")
        actions = self._start([sys.executable, "-m", "supportbot.action_server", "--port", str(s.action_port)], "actions")
        rasa_ports = [s.rasa_port] + [free_port() for _ in range(s.rasa_workers - 1)]
        rasa_servers = [
            self._start([
                sys.executable, "-m", "bot.server", "run", "--model", str(s.model_path), "--endpoints", str(endpoints),
                "--credentials", "credentials.yml", "--port", str(port), "--interface", "127.0.0.1",
            ], f"rasa-{port}" if len(rasa_ports) > 1 else "rasa")
            for port in rasa_ports
        ]
        self.rasa_urls = [rasa_webhook(port) for port in rasa_ports]
        gateway_command = [sys.executable, "-m", "supportbot.gateway", "--port", str(s.gateway_port)]
        for url in self.rasa_urls:
            gateway_command += ["--rasa-url", url]
        gateway = self._start(gateway_command, "gateway")
        _wait_http(f"http://127.0.0.1:{s.action_port}/health", actions, timeout, "the action server")
        for port, rasa in zip(rasa_ports, rasa_servers):
            _wait_http(f"http://127.0.0.1:{port}/webhooks/rest/", rasa, timeout, "the Rasa server")
        _wait_http(f"http://{s.host}:{s.gateway_port}/health", gateway, timeout, "the gateway")
        for url in self.rasa_urls:
            round_trip(url)
        return self

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes = []

    def supervise(self, until: Callable[[], bool] = lambda: False) -> None:
        """Start again any process that stops, after 1, 2, 4 ... up to 30 s (the more restarts in the last ten
        minutes, the longer), with a line on stderr. Meanwhile the gateway keeps taking messages: while the bot
        is away, the customers are told a colleague will answer (handoff/router.py)."""
        restarts: Dict[int, List[float]] = {}
        while not until():
            for i, process in enumerate(self.processes):
                code = process.poll()
                if code is None:
                    continue
                name, command = self.commands[i]
                recent = [at for at in restarts.get(i, []) if time.monotonic() - at < RESTART_MEMORY_SECONDS]
                delay = min(MAX_RESTART_DELAY_SECONDS, 2.0 ** len(recent))
                print(f"==> the {PROCESS_LABELS.get(name.split('-')[0], name)} stopped (exit code {code}); "
                      f"starting it again in {delay:.0f} s", file=sys.stderr, flush=True)
                log.warning("%s stopped with exit code %s; restarting in %.0f s", name, code, delay)
                time.sleep(delay)
                self.processes[i] = self._spawn(name, command, restart=True)
                restarts[i] = recent + [time.monotonic()]
            time.sleep(0.5)

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


READINESS_SENDER = "supportbot-readiness-check"


def round_trip(rasa_url: str) -> None:
    """One real question through a Rasa server, its NLU, policies and tracker store, and the action server: the
    stack is ready only when the bot's actions have replied to it (an answer, a clarifying question or, for a
    knowledge base about other things, a handoff). Sent past the gateway, so that no agent sees it and no
    statistic counts it."""
    replies = send(rasa_url, READINESS_SENDER, "How do I pay my bill?")
    if not any((reply.get("custom") or {}).get("kind") for reply in replies):
        raise RuntimeError(f"the bot is up but did not answer a test question: {replies!r}")


def rest_headers(token: Optional[str]) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def send(url: str, sender: str, text: str, timeout: float = 60.0, token: Optional[str] = None) -> list:
    """One message over REST; `token`: the gateway's REST token (a Rasa server's own webhook needs none)."""
    body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **rest_headers(token)})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read().decode("utf-8"))
