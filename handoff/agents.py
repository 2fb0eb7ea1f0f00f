"""The agents and their console sessions: accounts with argon2 passwords and roles, and sessions that end after
a lifetime or when idle."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from handoff import models as m
from handoff.ownership import State
from handoff.views import AgentView, NotFound, agent_view, as_utc

SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)  # a session unused this long ends (SESSION_IDLE_MINUTES)
SESSION_TOUCH_EVERY = timedelta(minutes=1)  # how often a session's last use is written down
ROLES = ("admin", "agent")  # admins also manage the agents
_password_hasher = PasswordHasher()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AgentDirectory:
    """`store.agents`: who may work in the console, and their sessions."""

    def __init__(self, session: Callable[[], Session], publish: Callable[[Session, int, str, Dict[str, Any]], None]):
        """`publish`: the store's, which adds a live event inside the caller's transaction."""
        self._session = session
        self._publish = publish


    def create(self, username: str, display_name: str, password: str, role: Optional[str] = None) -> AgentView:
        """A new agent (role `agent` unless given), or a new password, name and role for an existing one, which
        also reactivates it and ends every session of the old password."""
        if len(password) < 8:
            raise ValueError("the password must have at least 8 characters")
        if role is not None and role not in ROLES:
            raise ValueError(f"the role is one of {', '.join(ROLES)}")
        username = username.strip()
        if not username or len(username) > 80:
            raise ValueError("the username must have 1 to 80 characters")
        with self._session() as s, s.begin():
            existing = s.execute(select(m.Agent).where(m.Agent.username == username)).scalar_one_or_none()
            if existing:
                existing.display_name, existing.password_hash, existing.active = display_name, _password_hasher.hash(password), True
                existing.role = role or existing.role
                s.execute(delete(m.AgentSession).where(m.AgentSession.agent_id == existing.id))
                return agent_view(existing)
            agent = m.Agent(username=username, display_name=display_name, password_hash=_password_hasher.hash(password),
                            role=role or "agent")
            s.add(agent)
            s.flush()
            return agent_view(agent)

    def all(self, include_inactive: bool = False) -> List[AgentView]:
        query = select(m.Agent).order_by(m.Agent.username)
        if not include_inactive:
            query = query.where(m.Agent.active)
        with self._session() as s:
            return [agent_view(a) for a in s.execute(query).scalars()]

    def get(self, agent_id: int) -> AgentView:
        with self._session() as s:
            row = s.get(m.Agent, agent_id)
            if row is None:
                raise NotFound(f"no agent {agent_id}")
            return agent_view(row)

    def set_active(self, agent_id: int, active: bool) -> AgentView:
        """Deactivate an agent (every session ends at once; the conversations they had go back to the queue) or
        activate them again. The last active admin cannot be deactivated."""
        with self._session() as s, s.begin():
            row = s.get(m.Agent, agent_id)
            if row is None:
                raise NotFound(f"no agent {agent_id}")
            if not active and row.active and row.role == "admin":
                admins = s.execute(select(func.count()).select_from(m.Agent)
                                   .where(m.Agent.active, m.Agent.role == "admin")).scalar()
                if admins <= 1:
                    raise ValueError("the last active admin cannot be deactivated")
            row.active = active
            if not active:
                s.execute(delete(m.AgentSession).where(m.AgentSession.agent_id == agent_id))
                for conversation in s.execute(select(m.Conversation).where(
                        m.Conversation.state == State.AGENT.value, m.Conversation.agent_id == agent_id)).scalars():
                    conversation.state, conversation.agent_id, conversation.updated_at = State.WAITING.value, None, m.utcnow()
                    s.execute(update(m.Handoff).where(m.Handoff.id == conversation.current_handoff_id)
                              .values(claimed_at=None, agent_id=None))
                    self._publish(s, conversation.id, "state", {"state": State.WAITING.value})
            return agent_view(row)

    def authenticate(self, username: str, password: str) -> Optional[AgentView]:
        with self._session() as s:
            agent = s.execute(select(m.Agent).where(m.Agent.username == username, m.Agent.active)).scalar_one_or_none()
            if agent is None:
                _password_hasher.hash(password)  # same work as a real check, so timing does not reveal usernames
                return None
            try:
                _password_hasher.verify(agent.password_hash, password)
            except (VerificationError, InvalidHashError):
                return None
            return agent_view(agent)

    def start_session(self, agent_id: int) -> str:
        token = secrets.token_urlsafe(32)
        now = m.utcnow()
        with self._session() as s, s.begin():
            s.add(m.AgentSession(token_hash=token_hash(token), agent_id=agent_id, expires_at=now + SESSION_LIFETIME,
                                 last_seen_at=now))
        return token

    def for_session(self, token: str, idle_timeout: timedelta = SESSION_IDLE_TIMEOUT,
                          touch: bool = False) -> Optional[AgentView]:
        """The agent of a live session: not expired, not idle for `idle_timeout`, the agent still active. With
        `touch` (a request the agent made, not the console's own background checks) the session counts as used."""
        now = m.utcnow()
        with self._session() as s:
            row = s.get(m.AgentSession, token_hash(token))
            if row is None or as_utc(row.expires_at) < now:
                return None
            last_seen = as_utc(row.last_seen_at) or as_utc(row.created_at)
            if now - last_seen > idle_timeout:
                return None
            agent = s.get(m.Agent, row.agent_id)
            if agent is None or not agent.active:
                return None
            if touch and now - last_seen >= SESSION_TOUCH_EVERY:
                row.last_seen_at = now
                s.commit()
            return agent_view(agent)

    def end_session(self, token: str) -> None:
        with self._session() as s, s.begin():
            s.execute(delete(m.AgentSession).where(m.AgentSession.token_hash == token_hash(token)))
