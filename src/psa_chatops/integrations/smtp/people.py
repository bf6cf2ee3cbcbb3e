"""The directory for the e-mail notifier: one short read transaction per lookup, through the process's cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.directory import Contact, Customer, Technician
from psa_chatops.core.errors import NotFoundError
from psa_chatops.storage.directory import DirectoryCache, SqlDirectory
from psa_chatops.storage.engine import read_connection

T = TypeVar("T")


class SqlPeople:
    def __init__(self, engine: AsyncEngine, cache: DirectoryCache | None = None) -> None:
        self._engine = engine
        self._cache = cache if cache is not None else DirectoryCache()

    async def _read(self, use: Callable[[SqlDirectory], Awaitable[T]]) -> T | None:
        async with read_connection(self._engine) as conn:
            try:
                return await use(SqlDirectory(conn, self._cache))
            except NotFoundError:
                return None

    async def contact(self, contact_id: str) -> Contact | None:
        return await self._read(lambda d: d.contact(contact_id))

    async def technician(self, technician_id: str) -> Technician | None:
        return await self._read(lambda d: d.technician(technician_id))

    async def customer(self, customer_id: str) -> Customer | None:
        return await self._read(lambda d: d.customer(customer_id))

    async def dispatchers(self) -> list[Technician]:
        return await self._read(lambda d: d.dispatchers()) or []
