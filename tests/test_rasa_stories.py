"""Rasa's own end-to-end test stories, failing on any prediction error."""
import subprocess
import sys

import pytest

from supportbot.settings import PROJECT_ROOT, Settings
from supportbot.stack import ensure_model

pytestmark = pytest.mark.slow


def test_rasa_test_stories_pass(tmp_path):
    model = ensure_model(Settings())
    done = subprocess.run(
        [sys.executable, "-m", "rasa", "test", "core", "--model", str(model), "--stories", "tests/rasa",
         "--fail-on-prediction-errors", "--out", str(tmp_path / "results"), "--no-plot"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
