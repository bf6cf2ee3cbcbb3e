"""SQLite's one writer, as one thread: a unit of work runs there whole, in one hop from the event loop.

SQLite admits one writer at a time. Through aiosqlite every statement hops to a driver thread and back (four
hops for a query), so a command of ten statements spent most of its time in hand-offs, and concurrent writers
waited in SQLite's sleeping busy handler in no fair order. Here the bus hands the *whole* handler to one thread
that owns a plain ``sqlite3`` connection: statements run inline, writers queue first come first served, and the
event loop never blocks.

Group commit: units of work that queued up while the thread was busy run together, each in its own SAVEPOINT of
one transaction, and are acknowledged only after that transaction's COMMIT. A failing unit rolls back to its
savepoint and fails alone; a failing COMMIT fails the whole group. Nothing is acknowledged before it is durable.
A group of one (the usual case when commands arrive one at a time) needs no savepoint: its rollback restarts the
transaction instead, which saves two statements per command.

Code that opens a unit of work from the event loop (reads, tests) still works: each statement then hops to the
writer thread, with a deferred BEGIN so a reader holds no write lock between hops. Writes belong in whole units.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from psa_chatops.storage import json_codec
from psa_chatops.storage.engine import SQLITE_BUSY_TIMEOUT_S, sqlite_pragmas

T = TypeVar("T")


class SqliteWriter:
    def __init__(self, async_url: str) -> None:
        self._url = make_url(async_url).set(drivername="sqlite+pysqlite")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._thread_id: int | None = None
        self._engine: Engine | None = None
        self._job_connection: Connection | None = None
        self._units: deque[_Unit] = deque()
        self._units_lock = threading.Lock()
        self._drain_scheduled = False
        self.in_group = False
        self.group_size = 0
        self._durable: list[Callable[[], None]] = []  # callbacks for the running group's COMMIT
        # A forgotten writer must not leave its thread behind. The finalizer only stops the executor: it may run
        # inside another executor's lock (garbage collection happens anywhere), so it must not submit work.
        self._finalizer = weakref.finalize(self, self._executor.shutdown, wait=False)

    @property
    def engine(self) -> Engine:
        """Built on the writer thread at first use (SQLAlchemy touches the file system while building it)."""
        if self._engine is None:
            self._engine = create_engine(
                self._url,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
                **json_codec.ENGINE_OPTIONS,
            )
            event.listen(self._engine, "connect", lambda dbapi, _record: sqlite_pragmas(dbapi))
            event.listen(self._engine, "begin", _begin)
        return self._engine

    def job_connection(self) -> Connection:
        """The thread's own connection for whole units of work: no pool checkout per command."""
        if self._job_connection is None:
            self._job_connection = self.engine.connect()
        return self._job_connection

    def on_thread(self) -> bool:
        return threading.get_ident() == self._thread_id

    def _enter(self) -> None:
        self._thread_id = threading.get_ident()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the writer thread (inline when already there)."""
        if self.on_thread():
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._marked, fn, args)

    def _marked(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        self._enter()
        return fn(*args)

    async def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a unit of work (a coroutine whose awaits never suspend) on the writer thread, group-committed."""
        if self.on_thread():
            return drive(make)
        unit = _Unit(make)
        with self._units_lock:
            self._units.append(unit)
            schedule = not self._drain_scheduled
            self._drain_scheduled = True
        if schedule:
            self._executor.submit(self._marked, self._drain, ())
        result: T = await asyncio.wrap_future(unit.future)
        return result

    def _drain(self) -> None:
        """Take every unit queued so far (up to a limit) into one transaction; reschedule if more came."""
        with self._units_lock:
            group = [self._units.popleft() for _ in range(min(len(self._units), GROUP_LIMIT))]
        try:
            self._run_group(group)
        finally:
            with self._units_lock:
                self._drain_scheduled = bool(self._units)
                if self._drain_scheduled:
                    self._executor.submit(self._marked, self._drain, ())

    def _run_group(self, group: list[_Unit]) -> None:
        conn = self.job_connection()
        outcomes: list[tuple[_Unit, Any, BaseException | None]] = []
        try:
            conn.begin()
            self.in_group, self.group_size = True, len(group)
            for unit in group:
                try:
                    outcomes.append((unit, drive(unit.make), None))
                except BaseException as exc:  # the unit rolled back to its savepoint: it fails alone
                    outcomes.append((unit, None, exc))
            self.in_group = False
            conn.commit()
        except BaseException as exc:  # no COMMIT, no acknowledgement: every unit of the group fails
            self.in_group = False
            self._durable.clear()
            if conn.in_transaction():
                conn.rollback()
            for unit in group:
                unit.future.set_exception(exc)
            return
        durable, self._durable = self._durable, []
        for callback in durable:
            callback()
        for unit, value, error in outcomes:
            if error is None:
                unit.future.set_result(value)
            else:
                unit.future.set_exception(error)

    def when_group_durable(self, callback: Callable[[], None]) -> None:
        self._durable.append(callback)

    def close(self) -> None:
        """Close the connections on the thread that opened them, then stop the thread (blocking: call it from a
        thread, e.g. ``asyncio.to_thread``)."""
        if self._engine is not None:
            self._executor.submit(self._dispose).result()
        self._finalizer()

    def _dispose(self) -> None:
        if self._job_connection is not None:
            self._job_connection.close()
            self._job_connection = None
        if self._engine is not None:
            self._engine.dispose()


DEFERRED = "psa_deferred_begin"
SAVEPOINT = "psa_unit"
GROUP_LIMIT = 64


@dataclass
class _Unit:
    make: Callable[[], Coroutine[Any, Any, Any]]
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)


def _begin(conn: Connection) -> None:
    """Straight on the sqlite3 connection (in autocommit mode, see ``sqlite_pragmas``): one per group, but
    ``exec_driver_sql`` cost as much as a small INSERT."""
    statement = "BEGIN" if conn.get_execution_options().get(DEFERRED) else "BEGIN IMMEDIATE"
    conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]


def drive(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    coroutine = make()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a unit of work on the SQLite writer thread awaited real I/O; run it from the event loop")


class WriterConnection:
    """The async face of the writer thread's connection, as the repositories expect it."""

    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer
        self._conn: Connection | None = None
        self._shared = False
        self._grouped = False
        self._savepoint = False  # this unit's SAVEPOINT in a group of several
        self._unit_open = False  # grouped: neither released nor rolled back yet

    async def open(self) -> None:
        if self._writer.on_thread():  # a whole unit of work on the writer: its own connection
            self._conn, self._shared = self._writer.job_connection(), True
            if self._writer.in_group:  # a part of the group's transaction
                self._grouped = self._unit_open = True
                self._savepoint = self._writer.group_size > 1
                if self._savepoint:
                    self._conn.exec_driver_sql(f"SAVEPOINT {SAVEPOINT}")
            else:
                self._conn.begin()
            return
        self._conn = await self._writer.call(self._open_from_loop)

    def _open_from_loop(self) -> Connection:
        """Opened statement by statement from the event loop: a deferred BEGIN, so a reader holds no write lock
        between hops (commands queued on the writer would wait for it). Writes belong in whole units of work."""
        conn = self._writer.engine.connect().execution_options(**{DEFERRED: True})
        conn.begin()
        return conn

    @property
    def _live(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the writer connection is not open")
        return self._conn

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        if self._writer.on_thread():
            return self._live.execute(statement, parameters)
        return await self._writer.call(self._buffered, statement, parameters)

    def _buffered(self, statement: Any, parameters: Any) -> Any:
        """Off the writer thread, rows are fetched here, so the caller's thread never touches sqlite3."""
        result = self._live.execute(statement, parameters)
        return result.freeze()() if result.returns_rows else result

    async def commit(self) -> None:
        if self._grouped:  # RELEASE; the group's COMMIT makes it durable before anyone is told
            if self._unit_open and self._savepoint:
                self._live.exec_driver_sql(f"RELEASE {SAVEPOINT}")
            self._unit_open = False
            return
        await self._writer.call(self._live.commit)

    def when_durable(self, callback: Callable[[], None]) -> None:
        if self._grouped:
            self._writer.when_group_durable(callback)
        else:
            callback()

    async def rollback(self) -> None:
        if self._grouped:  # only ever our part: the group's transaction belongs to the writer
            if self._unit_open:
                conn = self._live
                if self._savepoint:
                    conn.exec_driver_sql(f"ROLLBACK TO {SAVEPOINT}")
                    conn.exec_driver_sql(f"RELEASE {SAVEPOINT}")
                else:  # the group is this unit alone: start its transaction afresh
                    conn.rollback()
                    conn.begin()
            self._unit_open = False
            return
        if self._conn is not None and self._conn.in_transaction():
            await self._writer.call(self._conn.rollback)

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None and self._conn.in_transaction()

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if not self._shared:
                await self._writer.call(conn.close)
