"""A process-level, thread-safe, bounded cache of per-session SQLAlchemy engines.

Modelled on Django's `BaseConnectionHandler`: lazily filled, locked, keyed, with
`close_all()`. A miss rebuilds the engine from the session's connection row, so
a restarted process or another worker serves the same session. An entry also
holds what is costly to rebuild per request (schema catalog, compiled agent).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from sqlalchemy import Engine

from agent.exceptions import NoDatabaseConnected
from agent.privacy import PrivacyPolicy
from connections.engines import engine_create
from connections.models import DatabaseConnection, UserSession

logger = logging.getLogger(__name__)


@dataclass
class SessionEngine:
    """A session's engine and what is derived from it, for one connection version."""

    session_id: uuid.UUID
    connection_id: int
    connection_version: datetime
    db_type: str
    engine: Engine
    # What may leave for the model, as the connection row said at this version.
    privacy: PrivacyPolicy | None = None
    last_used: float = field(default_factory=time.monotonic)
    # Filled lazily by the agent layer (schema catalog, system prompt, suggested
    # questions).
    extras: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def privacy_policy(self) -> PrivacyPolicy:
        """Return what may leave for the model; read from the connection row when
        the builder gave none, so no engine built elsewhere runs unrestricted."""
        if self.privacy is None:
            connection = DatabaseConnection.objects.get(pk=self.connection_id)
            self.privacy = PrivacyPolicy.for_connection(connection)
        return self.privacy


class EngineCache:
    """LRU of session engines with an idle timeout; evicted engines are disposed."""

    def __init__(
        self, *, max_size: int | None = None, idle_timeout_s: float | None = None
    ):
        self._max_size = max_size
        self._idle_timeout_s = idle_timeout_s
        self._entries: OrderedDict[uuid.UUID, SessionEngine] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def max_size(self) -> int:
        if self._max_size is not None:
            return self._max_size
        return settings.ENGINE_CACHE_MAX_SIZE

    @property
    def idle_timeout_s(self) -> float:
        if self._idle_timeout_s is not None:
            return self._idle_timeout_s
        return settings.ENGINE_CACHE_IDLE_TIMEOUT_S

    def get(self, session: UserSession) -> SessionEngine:
        """Return the session's engine, building it on a miss or a stale entry.

        A build passes the connection gate (it may open one connection to
        inspect the role, and raises PrivilegedConnectionRefused), so it runs
        outside the cache's lock: one slow database holds up no other session.
        """
        connection: DatabaseConnection | None = session.db_connection
        if connection is None:
            raise NoDatabaseConnected()
        session_id = uuid.UUID(str(session.pk))
        stale: list[SessionEngine] = []
        with self._lock:
            stale.extend(self._pop_idle())
            entry = self._fresh(session_id, connection, stale)
            if entry is not None:
                self._use(session_id, entry, stale)
        if entry is None:
            _dispose_all(stale)
            stale = []
            built = SessionEngine(
                session_id=session_id,
                connection_id=connection.pk,
                connection_version=connection.updated_at,
                db_type=connection.db_type,
                engine=engine_create(connection),
                privacy=PrivacyPolicy.for_connection(connection),
            )
            with self._lock:
                entry = self._fresh(session_id, connection, stale)
                if entry is None:
                    entry = self._entries[session_id] = built
                    logger.info(
                        "engine built session=%s connection=%s",
                        session_id,
                        connection.pk,
                    )
                else:
                    # Another request of the session built one meanwhile.
                    stale.append(built)
                self._use(session_id, entry, stale)
        _dispose_all(stale)
        return entry

    def _fresh(
        self,
        session_id: uuid.UUID,
        connection: DatabaseConnection,
        stale: list[SessionEngine],
    ) -> SessionEngine | None:
        entry = self._entries.get(session_id)
        if entry is not None and (
            entry.connection_id != connection.pk
            or entry.connection_version != connection.updated_at
        ):
            stale.append(self._entries.pop(session_id))
            entry = None
        return entry

    def _use(
        self, session_id: uuid.UUID, entry: SessionEngine, stale: list[SessionEngine]
    ) -> None:
        self._entries.move_to_end(session_id)
        entry.last_used = time.monotonic()
        while len(self._entries) > self.max_size:
            stale.append(self._entries.popitem(last=False)[1])

    def evict(self, session_id: uuid.UUID | str) -> bool:
        """Drop and dispose a session's engine; return whether there was one."""
        with self._lock:
            entry = self._entries.pop(uuid.UUID(str(session_id)), None)
        if entry is not None:
            _dispose(entry)
        return entry is not None

    def close_all(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            _dispose(entry)

    def __contains__(self, session_id: object) -> bool:
        with self._lock:
            return uuid.UUID(str(session_id)) in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _pop_idle(self) -> list[SessionEngine]:
        deadline = time.monotonic() - self.idle_timeout_s
        idle = [
            key for key, entry in self._entries.items() if entry.last_used < deadline
        ]
        return [self._entries.pop(key) for key in idle]


def _dispose_all(entries: list[SessionEngine]) -> None:
    for entry in entries:
        _dispose(entry)


def _dispose(entry: SessionEngine) -> None:
    entry.engine.dispose()
    logger.info("engine disposed session=%s", entry.session_id)


engine_cache = EngineCache()
