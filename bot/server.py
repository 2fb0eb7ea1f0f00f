"""The Rasa server of the live bot: `python -m bot.server run ...` is `rasa run ...` with three costs of Rasa 3.6
removed first (measured in docs/performance.md):

- Rasa checks every action server reply against its JSON schema with `jsonschema.validate`, which checks the
  schema itself first, each time: about 45 ms of one CPU per message. The schema never changes, so it is
  checked once here; a reply that fails still goes through Rasa's own validation and its error message.
- Rasa's SQL tracker store writes to SQLite with a sync to disk on each commit; in WAL mode (which the handoff
  database sets) synchronous=NORMAL loses no committed transaction when a process dies.
- Python's full garbage collections walk every object the loaded model made, stalling all messages."""
from __future__ import annotations

import gc
import sqlite3
import sys
from typing import Any, Callable, Dict

from signals.personal_data import install_log_masking

_checked_validators: Dict[int, Any] = {}


def check_action_replies_with_one_validator() -> None:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction._validate_action_result, "one_validator", False):
        return
    rasa_validation: Callable[[RemoteAction, Dict[str, Any]], bool] = RemoteAction._validate_action_result

    def validate(self: RemoteAction, result: Dict[str, Any]) -> bool:
        key = id(type(self))
        validator = _checked_validators.get(key)
        if validator is None:
            schema = self.action_response_format_spec()
            cls = validator_for(schema)
            cls.check_schema(schema)
            validator = _checked_validators[key] = cls(schema)
        if validator.is_valid(result):
            return True
        return rasa_validation(self, result)  # raises Rasa's ValidationError, with its hint

    validate.one_validator = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = validate


def _sqlite_without_full_sync(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def tune_sqlite_tracker_store() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _sqlite_without_full_sync):
        event.listen(Engine, "connect", _sqlite_without_full_sync)


def freeze_after_loading_the_model() -> None:
    """After the model is loaded, what start-up made is moved out of the collector's reach: a full collection
    over it took 100-400 ms, during which every message in the server waited."""
    import rasa.core.run

    load = rasa.core.run.load_agent_on_start
    if getattr(load, "then_freezes", False):
        return

    async def load_then_freeze(*args, **kwargs):
        agent = await load(*args, **kwargs)
        gc.collect()
        gc.freeze()
        return agent

    load_then_freeze.then_freezes = True  # type: ignore[attr-defined]
    rasa.core.run.load_agent_on_start = load_then_freeze


def main() -> None:
    install_log_masking()
    check_action_replies_with_one_validator()
    tune_sqlite_tracker_store()
    freeze_after_loading_the_model()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
