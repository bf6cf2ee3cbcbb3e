"""Admin resources through the API, independent of the version: deliveries (the outbox: list, inspect, replay)
and API keys (list, create, revoke, rotate or remove their request-signing secret).

Both are the whole MSP's (every customer's deliveries; keys that may reach any customer), so besides the ``admin``
scope they need a caller that sees every customer: an admin key limited to some customers could otherwise read
other customers' payloads or mint itself an unlimited key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.api.directory import Page, actor_of, customer_issues, decode_cursor, invalid, paged, read
from psa_chatops.bot.api.operations import Call
from psa_chatops.bot.api.principal import SCOPES, unknown_scopes
from psa_chatops.core.errors import N_, ConflictError, NotFoundError
from psa_chatops.handlers import directory_queries as rules
from psa_chatops.handlers.directory_queries import Issue
from psa_chatops.storage.api_keys import ApiKeyRecord, NewApiKey, new_signing_secret, validate_networks
from psa_chatops.storage.outbox import DeliveryRecord, OutboxStore, RowStatus

DELIVERY = "delivery"
API_KEY = "api-key"
KEY_MISSING = N_("API key {id} does not exist.")


def _outbox(call: Call) -> OutboxStore:
    rules.ensure_sees_every_customer(actor_of(call))
    return call.request.config_dict[keys.DISPATCHER].store


# --- deliveries -----------------------------------------------------------------------------------------------------


async def deliveries(
    call: Call,
    *,
    limit: int,
    cursor: str | None,
    status: RowStatus | None = None,
    destination: str | None = None,
    ticket_number: int | None = None,
) -> Page[DeliveryRecord]:
    """Newest first; the cursor is the id of the last row shown, so new rows never shift the following pages."""
    store = _outbox(call)
    before = decode_cursor(cursor, DELIVERY, call.locale, int)
    rows = await store.page(
        status=status.value if status else None,
        destination=destination,
        ticket_number=ticket_number,
        before=before,
        limit=limit + 1,
    )
    return paged(rows, limit, DELIVERY, lambda d: d.id)


async def delivery(call: Call, delivery_id: int) -> DeliveryRecord:
    found = await _outbox(call).get(delivery_id)
    if found is None:
        raise NotFoundError(N_("Delivery {id} does not exist."), id=delivery_id)
    return found


async def replay(call: Call, delivery_id: int) -> DeliveryRecord:
    """Sends a delivered, recorded or dead row again (receivers drop duplicates by its Idempotency-Key)."""
    current = await delivery(call, delivery_id)
    if current.status is RowStatus.PENDING:
        raise ConflictError(N_("Delivery {id} is still pending; it will be sent without a replay."), id=delivery_id)
    await _outbox(call).replay(ids=[delivery_id], now=call.now())
    call.request.config_dict[keys.DISPATCHER].wake()
    return await delivery(call, delivery_id)


async def replay_dead(call: Call) -> int:
    count = await _outbox(call).replay(dead=True, now=call.now())
    if count:
        call.request.config_dict[keys.DISPATCHER].wake()
    return count


# --- API keys -------------------------------------------------------------------------------------------------------


async def api_keys_page(call: Call, *, limit: int, cursor: str | None) -> Page[ApiKeyRecord]:
    rules.ensure_sees_every_customer(actor_of(call))
    after = decode_cursor(cursor, API_KEY, call.locale, str)
    records = await call.request.config_dict[api_keys.API_KEYS].list(limit=limit + 1, after=after)
    return paged(records, limit, API_KEY, lambda r: r.id)


async def api_key(call: Call, key_id: str) -> ApiKeyRecord:
    rules.ensure_sees_every_customer(actor_of(call))
    found = await call.request.config_dict[api_keys.API_KEYS].get(key_id)
    if found is None:
        raise NotFoundError(KEY_MISSING, id=key_id)
    return found


async def create_api_key(
    call: Call,
    *,
    name: str,
    scopes: Sequence[str],
    customer_ids: Sequence[str] | None,
    allowed_networks: Sequence[str] | None,
    expires_at: datetime | None,
    signing: bool = False,
) -> NewApiKey:
    """The new key's secret is in the result and nowhere else: the store keeps only its hash. With ``signing``
    the key also gets a request-signing secret (``record.signing_secret``), for the caller to show once."""
    rules.ensure_sees_every_customer(actor_of(call))
    issues = _scope_issues(scopes) + _network_issues(allowed_networks or ())
    if expires_at is not None and expires_at <= call.now():
        issues.append(Issue("expires_at", N_("The expiry must lie in the future.")))
    if customer_ids:
        issues += await read(call, lambda conn: customer_issues(conn, actor_of(call), "customer_ids", customer_ids))
    if issues:
        raise invalid(call.locale, issues)
    created: NewApiKey = await call.request.config_dict[api_keys.API_KEYS].create(
        name=name,
        scopes=scopes,
        created_by=call.principal.id,
        now=call.now(),
        customer_ids=customer_ids,
        allowed_networks=allowed_networks,
        expires_at=expires_at,
        signing_secret=new_signing_secret() if signing else None,
    )
    return created


async def revoke_api_key(call: Call, key_id: str) -> None:
    """Revoked at once in this process (its verified-key cache is emptied); other processes within 30 seconds."""
    await api_key(call, key_id)
    await call.request.config_dict[api_keys.API_KEYS].revoke(key_id, now=call.now())
    call.request.config_dict[api_keys.DEPS].key_cache.clear()


async def rotate_signing_secret(call: Call, key_id: str) -> tuple[ApiKeyRecord, str]:
    """The key and its new signing secret (to be shown once); the old secret is refused at once here."""
    secret = new_signing_secret()
    await _set_signing_secret(call, key_id, secret)
    return await api_key(call, key_id), secret


async def remove_signing_secret(call: Call, key_id: str) -> None:
    """The key's requests need no signature any more (at once here; other processes within 30 seconds)."""
    await _set_signing_secret(call, key_id, None)


async def _set_signing_secret(call: Call, key_id: str, secret: str | None) -> None:
    """The gateway trusts a verified key (with its secret) for 30 s: emptying the cache makes the change count at
    once in this process, as a revocation does."""
    rules.ensure_sees_every_customer(actor_of(call))
    if not await call.request.config_dict[api_keys.API_KEYS].set_signing_secret(key_id, secret):
        raise NotFoundError(KEY_MISSING, id=key_id)
    call.request.config_dict[api_keys.DEPS].key_cache.clear()


def _scope_issues(scopes: Sequence[str]) -> list[Issue]:
    unknown = unknown_scopes(tuple(scopes))
    if not unknown:
        return []
    params = {"scopes": ", ".join(unknown), "known": ", ".join(SCOPES)}
    return [Issue("scopes", N_("Unknown scopes: {scopes}. Known scopes: {known}."), params)]


def _network_issues(networks: Sequence[str]) -> list[Issue]:
    issues = []
    for i, network in enumerate(networks):
        try:
            validate_networks([network])
        except ValueError:
            issues.append(
                Issue(
                    f"allowed_networks.{i}",
                    N_("{value} is not an IP network such as 203.0.113.0/24."),
                    {"value": network},
                )
            )
    return issues
