"""`supportbot run` supervises its processes: a killed action server is started again, the customers who write
meanwhile hear that a colleague will answer, and FAQ answers work again within 90 s."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from supportbot.settings import Settings
from supportbot.stack import Stack, private_settings, scratch_database, send

pytestmark = [pytest.mark.slow, pytest.mark.live]


def test_a_killed_action_server_is_restarted_and_the_customers_are_never_left_in_silence(tmp_path):
    settings = private_settings(Settings.from_environ(), database_url=scratch_database(tmp_path / "supportbot.db"),
                                rasa_workers=1)
    done = threading.Event()
    with Stack(settings, quiet=True) as stack:
        supervisor = threading.Thread(target=stack.supervise, kwargs={"until": done.is_set}, daemon=True)
        supervisor.start()
        try:
            actions = stack.processes[0]
            os.kill(actions.pid, signal.SIGKILL)
            actions.wait(timeout=10)
            killed = time.monotonic()

            meanwhile = send(settings.rest_url, "while-it-is-down", "How do I pay my bill?", timeout=60, token=settings.rest_api_token)
            assert meanwhile[0]["custom"]["reason"] == "bot_unavailable"

            answered = []
            while time.monotonic() - killed < 90 and not answered:
                time.sleep(2)
                replies = send(settings.rest_url, f"after-{int(time.monotonic())}", "How do I pay my bill?", timeout=60, token=settings.rest_api_token)
                answered = [r for r in replies if (r.get("custom") or {}).get("kind") in ("answer", "clarify")]
            assert answered, "FAQ answers did not come back within 90 s of the kill"
            assert stack.processes[0].pid != actions.pid and stack.processes[0].poll() is None
        finally:
            done.set()
            supervisor.join(timeout=40)
