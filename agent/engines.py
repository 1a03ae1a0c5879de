"""A process-level, thread-safe, bounded cache of what each session asks with.

Modelled on Django's `BaseConnectionHandler`: lazily filled, locked, keyed, with
`close_all()`. A miss rebuilds the entry from the session's connection row, so
a restarted process or another worker serves the same session.

An entry's engine is the process's one pool for the session's database
(`connections.pools`, shared by every session on it), and what is costly to
build from the schema (catalog, system prompt, suggested questions, schema
panel) is kept once per connection version (`DerivedCache`), not per session.
TARGET_DB_POOL_SCOPE=session brings back the design before: an engine and all
of that per session.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from sqlalchemy import Engine

from agent.exceptions import NoDatabaseConnected
from agent.privacy import PrivacyPolicy
from connections.engines import engine_create, engine_shared
from connections.models import DatabaseConnection, UserSession
from connections.pools import target_pools
from connections.privileges import verdict_key

logger = logging.getLogger(__name__)


@dataclass
class Derived:
    """What is built from one version of a connection's schema, for every
    session on it: filled lazily by the agent layer under `lock`."""

    extras: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class DerivedCache:
    """The derived state per connection version (record, `updated_at`, digest of
    what decides where it logs in); a newer version of a record replaces the
    older, and `refresh` empties a record's (a refresh on request)."""

    def __init__(self) -> None:
        # Key -> (record id, state); the record's current key in `_version_of`.
        self._entries: OrderedDict[Hashable, tuple[int, Derived]] = OrderedDict()
        self._version_of: dict[int, Hashable] = {}
        self._lock = threading.Lock()

    def get(self, connection: DatabaseConnection) -> Derived:
        """Return the connection version's derived state, new when it changed."""
        key = (verdict_key(connection), connection.schema_read_at)
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                old = self._version_of.get(connection.pk)
                if old is not None:
                    self._entries.pop(old, None)
                found = self._entries[key] = (connection.pk, Derived())
                self._version_of[connection.pk] = key
            self._entries.move_to_end(key)
            while len(self._entries) > settings.ENGINE_CACHE_MAX_SIZE:
                dropped, (pk, _) = self._entries.popitem(last=False)
                if self._version_of.get(pk) == dropped:
                    del self._version_of[pk]
            return found[1]

    def refresh(self, connection_id: int) -> None:
        """Empty a connection's derived state in place: every session on it
        reads the schema again at its next use."""
        with self._lock:
            key = self._version_of.get(connection_id)
            found = self._entries.get(key) if key is not None else None
        if found is not None:
            with found[1].lock:
                found[1].extras.clear()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._version_of.clear()


derived_cache = DerivedCache()


@dataclass
class SessionEngine:
    """A session's engine and what is derived from it, for one connection version."""

    session_id: uuid.UUID
    connection_id: int
    connection_version: datetime
    db_type: str
    engine: Engine
    # The connection's last schema refresh (asked in any process) at build time.
    schema_read_at: datetime | None = None
    # What may leave for the model, as the connection row said at this version.
    privacy: PrivacyPolicy | None = None
    last_used: float = field(default_factory=time.monotonic)
    # Filled lazily by the agent layer (schema catalog, system prompt, suggested
    # questions); shared by the sessions on one connection version.
    extras: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The engine is the process's pool for this database, not the session's:
    # dropping the entry leaves it open for the other sessions.
    shared: bool = False

    def privacy_policy(self) -> PrivacyPolicy:
        """Return what may leave for the model; read from the connection row when
        the builder gave none, so no engine built elsewhere runs unrestricted."""
        if self.privacy is None:
            connection = DatabaseConnection.objects.get(pk=self.connection_id)
            self.privacy = PrivacyPolicy.for_connection(connection)
        return self.privacy


class EngineCache:
    """LRU of session entries with an idle timeout; an evicted entry's own engine
    is disposed (a shared pool stays for the other sessions)."""

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
            built = _session_engine_build(session_id, connection)
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
            or entry.schema_read_at != connection.schema_read_at
            or (entry.shared and not target_pools.is_current(entry.engine))
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

    def schema_refresh(self, connection_id: int) -> None:
        """Make every session on the connection read its schema again (the
        catalog and what derives from it are rebuilt at their next use)."""
        derived_cache.refresh(connection_id)
        with self._lock:
            entries = [
                e for e in self._entries.values() if e.connection_id == connection_id
            ]
        for entry in entries:
            with entry.lock:
                entry.extras.clear()

    def close_all(self) -> None:
        """Drop every entry and the derived state (the pools are left open)."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        derived_cache.clear()
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


def _session_engine_build(
    session_id: uuid.UUID, connection: DatabaseConnection
) -> SessionEngine:
    """Return a session's entry: on its database's shared pool with the derived
    state of its connection version, or (scope `session`) on its own of each."""
    privacy = PrivacyPolicy.for_connection(connection)
    common: dict[str, Any] = {
        "session_id": session_id,
        "connection_id": connection.pk,
        "connection_version": connection.updated_at,
        "schema_read_at": connection.schema_read_at,
        "db_type": connection.db_type,
        "privacy": privacy,
    }
    if settings.TARGET_DB_POOL_SCOPE == "session":
        return SessionEngine(engine=engine_create(connection), **common)
    derived = derived_cache.get(connection)
    return SessionEngine(
        engine=engine_shared(connection),
        extras=derived.extras,
        lock=derived.lock,
        shared=True,
        **common,
    )


def _dispose_all(entries: list[SessionEngine]) -> None:
    for entry in entries:
        _dispose(entry)


def _dispose(entry: SessionEngine) -> None:
    if entry.shared:
        return  # the database's pool serves other sessions; it closes when idle
    entry.engine.dispose()
    logger.info("engine disposed session=%s", entry.session_id)


engine_cache = EngineCache()
