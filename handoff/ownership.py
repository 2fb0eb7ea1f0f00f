"""Who owns a conversation. The bot answers only in `bot`; in every other state it stays silent."""
from __future__ import annotations

from enum import Enum
from typing import Dict, FrozenSet

from protocol.moods import Mood


class State(str, Enum):
    BOT = "bot"
    WAITING = "waiting"  # handed off, in the agents' queue
    AGENT = "agent"  # an agent claimed it
    CLOSED = "closed"  # the agent closed it; the bot asks for a rating and takes over at the next message


ALLOWED: Dict[State, FrozenSet[State]] = {
    State.BOT: frozenset({State.WAITING}),
    State.WAITING: frozenset({State.AGENT, State.BOT, State.CLOSED}),
    State.AGENT: frozenset({State.BOT, State.CLOSED}),
    State.CLOSED: frozenset({State.BOT}),
}


class TransitionRefused(Exception):
    """The conversation was not in a state that allows the change (often: someone else changed it first)."""

    def __init__(self, message: str, current: "State | None" = None):
        super().__init__(message)
        self.current = current


def check_transition(current: State, target: State) -> None:
    if target not in ALLOWED[current]:
        raise TransitionRefused(f"a conversation in state '{current.value}' cannot go to '{target.value}'", current)


def bot_may_answer(state: str) -> bool:
    return State(state) in (State.BOT, State.CLOSED)


PRIORITY_BY_SENTIMENT = {Mood.RUDE: 0, Mood.UPSET: 1}
DEFAULT_PRIORITY = 2


def priority_for(reason: str, sentiment: str) -> int:
    """Rude and upset customers are served first, then the rest by waiting time."""
    for signal in (reason, sentiment):
        if signal in PRIORITY_BY_SENTIMENT:
            return PRIORITY_BY_SENTIMENT[signal]
    return DEFAULT_PRIORITY
