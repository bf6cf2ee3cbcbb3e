"""Has anything been committed to the database since I last looked? Cheap enough to ask on every chat request.

On SQLite the answer is ``PRAGMA data_version`` on one read-only connection of our own: its value changes when any
other connection (our writer thread, ``psa worker``, the CLI, another process) commits, and stays put otherwise.
It reads the WAL index in shared memory, about 15 µs, while a version read through the async engine costs a thread
hop per request. So read-mostly chat answers (who is this Slack user, what does ticket 42's card look like) can
be kept in memory and trusted exactly as long as nothing was committed — not for a guessed TTL.

PostgreSQL has no such counter: ``token()`` is None there and callers read through (their own version checks).
The probe runs on the event loop thread only; it never writes and holds no transaction open between calls.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from psa_chatops.storage.engine import is_sqlite

T = TypeVar("T")


class CommitWatch:
    """``token()`` is equal across two calls only if nothing was committed in between (None: cannot tell)."""

    def __init__(self, connection: sqlite3.Connection | None = None) -> None:
        self._connection = connection

    @classmethod
    def open(cls, database_url: str) -> CommitWatch:
        """Blocking (opens a file): call it in a thread. A non-file database gives a watch that cannot tell."""
        if not is_sqlite(database_url):
            return cls()
        database = make_url(database_url).database
        if not database or database == ":memory:":
            return cls()
        connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        return cls(connection)

    def token(self) -> int | None:
        if self._connection is None:
            return None
        row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class CommittedCache:
    """A small LRU of values read from the database, each valid while the watch's token is unchanged.

    The token is taken *before* the read: a commit that lands during the read leaves the entry tagged older than
    its content, so the next lookup reads again. Never stale, at worst one read too many.
    """

    def __init__(self, watch: CommitWatch, *, size: int = 4096) -> None:
        self._watch = watch
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        token = self._watch.token()
        if token is None:
            return await load()
        entry = self._entries.get(key)
        if entry is not None and entry[0] == token:
            self._entries.move_to_end(key)
            self.hits += 1
            value: T = entry[1]
            return value
        self.misses += 1
        value = await load()
        self._entries[key] = (token, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()
