"""The benchmarks' package (supportbot/eval): one-way imports, its own data, the CLI's choices."""
from __future__ import annotations

import ast
import json
from argparse import Namespace
from pathlib import Path

from signals.sentiment.fitting import ROUTINE_KNOWLEDGE_DIR, cache_key, DEV_FILE, LEXICON_FILE, TRAIN_FILES
from knowledge.calibration import CalibrationSettings
from supportbot import eval as benchmarks
from supportbot.cli import build_parser
from supportbot.eval import data
from supportbot.eval.knowledge import write_settings
from supportbot.settings import PROJECT_ROOT

EVAL_DIR = PROJECT_ROOT / "supportbot" / "eval"


def imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_no_benchmark_imports_the_dispatcher():
    for path in EVAL_DIR.glob("*.py"):
        if path.name == "__init__.py":
            continue
        names = set(imported_modules(path))
        assert "supportbot.eval" not in names and "supportbot.eval.main" not in names, path
        assert not any(name.startswith("tests") for name in names), path


def test_the_shared_helpers_import_no_benchmark():
    for helper in ("data.py", "report.py"):
        names = {n for n in imported_modules(EVAL_DIR / helper) if n.startswith("supportbot.eval")}
        assert names == set(), (helper, names)


def test_the_cli_offers_every_benchmark_and_only_those():
    eval_parser = build_parser()._subparsers._group_actions[0].choices["eval"]
    choices = next(a.choices for a in eval_parser._actions if a.dest == "benchmark")
    assert list(choices) == benchmarks.CHOICES


def test_every_benchmark_function_exists():
    import importlib

    for name, (module, function, _) in benchmarks.BENCHMARKS.items():
        assert callable(getattr(importlib.import_module(f"supportbot.eval.{module}"), function)), name


def test_the_evaluation_data_is_outside_the_tests_and_the_package():
    for path in (data.CROSSLINGUAL_TEST, data.SENTIMENT_TEST, data.HUMAN_REQUESTS, data.KNOWLEDGE_SETS):
        assert path.exists(), path
        assert path.is_relative_to(PROJECT_ROOT / "evalsets"), path
    assert not (PROJECT_ROOT / "tests" / "data").exists()
    assert data.read_jsonl(data.CROSSLINGUAL_TEST)[0].keys() >= {"text", "lang", "faq_id"}


def test_the_chosen_calibration_settings_go_to_the_path_given(tmp_path):
    target = tmp_path / "out" / "settings.json"
    write_settings(target, CalibrationSettings(), {"bank": CalibrationSettings(answer_shift=-0.5)})
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written["shipped"]["wrong_answer_cost"] == CalibrationSettings().wrong_answer_cost
    assert written["left_one_out"]["bank"]["answer_shift"] == -0.5
    args = build_parser().parse_args(["eval", "knowledge", "--params-out", str(target)])
    assert args.params_out == str(target)
    assert build_parser().parse_args(["eval", "knowledge"]).params_out is None


def test_the_sentiment_cache_key_follows_the_knowledge_it_is_given(tmp_path):
    args = (list(TRAIN_FILES), DEV_FILE, LEXICON_FILE, "an-encoder")
    assert cache_key(*args) == cache_key(*args, ROUTINE_KNOWLEDGE_DIR)
    other = tmp_path / "knowledge"
    other.mkdir()
    (other / "only.yml").write_text("entries: []\n", encoding="utf-8")
    assert cache_key(*args, other) != cache_key(*args)


def test_the_dispatcher_runs_only_the_benchmark_asked_for(monkeypatch):
    ran = []
    monkeypatch.setattr("supportbot.eval.crosslingual.bench_crosslingual",
                        lambda args, report: (ran.append("crosslingual"), report.update(crosslingual="figures")))
    monkeypatch.setattr("supportbot.eval.crosslingual.bench_banking77", lambda args, report: ran.append("banking77"))
    written = []
    monkeypatch.setattr(benchmarks, "write_report", written.append)
    assert benchmarks.main(Namespace(benchmark="crosslingual", no_write=False)) == 0
    assert ran == ["crosslingual"] and written == [{"crosslingual": "figures"}]
    assert benchmarks.main(Namespace(benchmark="crosslingual", no_write=True)) == 0
    assert len(written) == 1
