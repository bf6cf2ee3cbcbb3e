"""API keys: created with a secret shown once, stored as a SHA-256 hash, found by their public prefix.

A key looks like ``psa_<id>_<secret>``: ``id`` (10 characters) is public and indexes the row, ``secret`` carries
256 random bits, so a fast hash is safe (nothing to brute-force) and comparing digests in constant time is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.tables import SqlConnection
from psa_chatops.storage.transactions import in_transaction

KEYS = t.table_of(t.ApiKeyRow)
PREFIX = "psa_"
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0)
ID_LENGTH = 10


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    name: str
    scopes: tuple[str, ...]
    customer_ids: tuple[str, ...] | None
    allowed_networks: tuple[str, ...] | None
    sandbox: bool
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    signing_secret: str | None = field(default=None, repr=False)  # request signing (HMAC); never logged

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def admits(self, client_ip: str | None) -> bool:
        """True when the key has no IP allow-list or the address lies in one of its networks."""
        if not self.allowed_networks:
            return True
        if client_ip is None:
            return False
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(n, strict=False) for n in self.allowed_networks)


@dataclass(frozen=True)
class NewApiKey:
    record: ApiKeyRecord
    secret: str  # the whole key; shown once


def split_key(presented: str) -> tuple[str, str] | None:
    """``psa_<id>_<secret>`` -> (id, whole key), or None when it does not even look like one of ours."""
    if not presented.startswith(PREFIX):
        return None
    key_id, sep, secret = presented[len(PREFIX) :].partition("_")
    if not sep or len(key_id) != ID_LENGTH or len(secret) < 32:
        return None
    return key_id, presented


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def validate_networks(networks: Sequence[str]) -> tuple[str, ...]:
    """CIDRs or single addresses, normalised; ValueError names the first bad entry."""
    out = []
    for entry in networks:
        try:
            out.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError as exc:
            raise ValueError(f"not an IP network: {entry!r}") from exc
    return tuple(out)


class ApiKeyStore:
    def __init__(self, engine: AsyncEngine, *, writer: SqliteWriter | None = None) -> None:
        self._engine, self._writer = engine, writer

    async def create(
        self,
        *,
        name: str,
        scopes: Sequence[str],
        created_by: str,
        now: datetime,
        customer_ids: Sequence[str] | None = None,
        allowed_networks: Sequence[str] | None = None,
        expires_at: datetime | None = None,
        sandbox: bool = False,
        signing_secret: str | None = None,
    ) -> NewApiKey:
        key_id = "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        row = {
            "id": key_id,
            "name": name,
            "secret_hash": digest(secret),
            "scopes": sorted(set(scopes)),
            "customer_ids": sorted(set(customer_ids)) if customer_ids else None,
            "allowed_networks": list(validate_networks(allowed_networks)) if allowed_networks else None,
            "sandbox": sandbox,
            "created_by": created_by,
            "created_at": now,
            "expires_at": expires_at,
            "signing_secret": signing_secret,
        }

        async def work(conn: SqlConnection) -> None:
            await conn.execute(insert(KEYS), row)

        await in_transaction(self._engine, self._writer, work)
        return NewApiKey(_record(row), secret)

    async def authenticate(self, presented: str) -> ApiKeyRecord | None:
        """The key's record when the whole key matches (constant-time), else None. Expiry is the caller's check."""
        parts = split_key(presented)
        if parts is None:
            return None
        key_id, whole = parts
        async with read_connection(self._engine) as conn:
            row = (await conn.execute(select(KEYS).where(KEYS.c.id == key_id))).first()
        if row is None or not hmac.compare_digest(row.secret_hash, digest(whole)):
            return None
        return _record(row._mapping)

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        async with read_connection(self._engine) as conn:
            row = (await conn.execute(select(KEYS).where(KEYS.c.id == key_id))).first()
        return _record(row._mapping) if row else None

    async def list(self, *, limit: int = 100, after: str | None = None) -> list[ApiKeyRecord]:
        stmt = select(KEYS).order_by(KEYS.c.id).limit(limit)
        if after:
            stmt = stmt.where(KEYS.c.id > after)
        async with read_connection(self._engine) as conn:
            return [_record(r._mapping) for r in (await conn.execute(stmt)).all()]

    async def revoke(self, key_id: str, *, now: datetime) -> bool:
        async def work(conn: SqlConnection) -> bool:
            stmt = update(KEYS).where(KEYS.c.id == key_id, KEYS.c.revoked_at.is_(None)).values(revoked_at=now)
            return bool((await conn.execute(stmt)).rowcount)

        return await in_transaction(self._engine, self._writer, work)

    async def set_signing_secret(self, key_id: str, secret: str | None) -> bool:
        """Rotate (or, with None, remove) the key's signing secret; False when there is no such key."""

        async def work(conn: SqlConnection) -> bool:
            return bool(
                (await conn.execute(update(KEYS).where(KEYS.c.id == key_id).values(signing_secret=secret))).rowcount
            )

        return await in_transaction(self._engine, self._writer, work)

    async def touch(self, key_ids: Sequence[str], *, now: datetime) -> None:
        """Record use (batched by the caller: one write for many requests)."""
        if not key_ids:
            return

        async def work(conn: SqlConnection) -> None:
            await conn.execute(update(KEYS).where(KEYS.c.id.in_(list(key_ids))).values(last_used_at=now))

        await in_transaction(self._engine, self._writer, work)


def _record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        scopes=tuple(row["scopes"] or ()),
        customer_ids=tuple(row["customer_ids"]) if row["customer_ids"] else None,
        allowed_networks=tuple(row["allowed_networks"]) if row["allowed_networks"] else None,
        sandbox=bool(row["sandbox"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        expires_at=row.get("expires_at"),
        revoked_at=row.get("revoked_at"),
        last_used_at=row.get("last_used_at"),
        signing_secret=row.get("signing_secret"),
    )


def new_signing_secret() -> str:
    """256 random bits, URL-safe: what ``psa apikey create --signing-secret`` hands out (shown once)."""
    return secrets.token_urlsafe(32)
