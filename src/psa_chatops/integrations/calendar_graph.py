"""Maintenance windows and on-site appointments in a Microsoft 365 calendar (a mailbox or a group) through
Microsoft Graph.

``GraphCalendarNotifier`` delivers ``calendar:<mailbox or group>`` outbox rows (``MaintenanceWindowChanged``, and
``AppointmentChanged`` from ``storage.appointments``, whose entries ``calendar_appointments`` words; a cancelled
appointment counts as gone). It does not replay the row's snapshot; it makes the calendar match the window (or
appointment) as it is now:

- the window exists, no event yet -> ``POST {graph}/users/{mailbox}/events`` (or ``/groups/{group}/events``) with a
  client-side ``transactionId``, so a POST retried after a lost answer does not book twice; the event id goes into
  ``calendar_events``;
- the window exists and changed since the last write (``synced_hash``) -> ``PATCH .../events/{id}``; unchanged ->
  nothing; the event was deleted in Outlook (404) -> created again;
- the window is gone -> ``DELETE .../events/{id}`` (404: already gone, fine).

So a redelivery, a replay or rows delivered out of order (calendar rows carry no ticket, so the outbox does not
order them) end in the same calendar; deliveries for one window are serialised in this process.

Tokens: app-only, msal client credentials (``ConfidentialClientApplication``). msal is synchronous, so the app is
built and tokens are acquired in a worker thread; the app object lives as long as the notifier and msal's cache
answers until the token is about to expire. A 401 drops the cached token and retries once with a fresh one.

Errors (``integrations.errors``): transport failures, 5xx and 408 retryable; 429, and 503/504 with Retry-After,
rate limited (the dispatcher waits at least that long); other 4xx permanent; a token the directory refuses
(``invalid_client``, ...) permanent, other token failures retryable.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import aiohttp
import msal  # type: ignore[import-untyped]
import requests
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.errors import N_
from psa_chatops.handlers.ports import Delivery
from psa_chatops.i18n import translate
from psa_chatops.integrations.calendar_appointments import appointment_body
from psa_chatops.integrations.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    RetryableDeliveryError,
    error_for_status,
)
from psa_chatops.integrations.recorder import parse_destination
from psa_chatops.integrations.resilience import parse_retry_after
from psa_chatops.storage.appointments import appointment_source, load_entry
from psa_chatops.storage.calendar_sync import (
    CALENDAR_KIND,
    CalendarEventStore,
    SyncedEvent,
    WindowView,
    load_window,
    window_source,
)

logger = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
PERMANENT_TOKEN_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_request", "invalid_scope", "invalid_grant"}
)
_TRANSACTIONS = uuid.UUID("9a1d4a8e-2c57-4e55-8d8b-6c8b0f2f7a11")
_DETAIL_CHARS = 300
__all__ = ["CALENDAR_KIND", "GraphCalendarNotifier", "MsalTokenProvider", "event_body", "summary_of"]


# --- what the entry says (shared with the iCalendar feed) -------------------------------------------------------------


def summary_of(view: WindowView, locale: str, *, with_customer: bool = True) -> str:
    title = view.window.title
    if with_customer and view.customer is not None:
        return translate(
            N_("Maintenance window: {title} ({customer})"), locale, title=title, customer=view.customer.name
        )
    return translate(N_("Maintenance window: {title}"), locale, title=title)


def description_of(view: WindowView, locale: str) -> str:
    lines = []
    if view.customer is not None:
        lines.append(translate(N_("Customer: {customer}"), locale, customer=view.customer.name))
    if view.window.asset_ids:
        names = [f"{a.name} ({a.hostname})" if a.hostname and a.hostname != a.name else a.name for a in view.assets]
        known = {a.id for a in view.assets}
        names += [a for a in view.window.asset_ids if a not in known]
        lines.append(translate(N_("Assets: {assets}"), locale, assets=", ".join(names)))
    else:
        lines.append(translate(N_("Assets: all of the customer's assets"), locale))
    lines.append(translate(N_("Maintenance window {id}"), locale, id=view.window.id))
    return "\n".join(lines)


def _graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def event_body(view: WindowView, locale: str) -> dict[str, Any]:
    """The Graph event for a window (without ``transactionId``, which only a create sends)."""
    return {
        "subject": summary_of(view, locale),
        "body": {"contentType": "text", "content": description_of(view, locale)},
        "start": _graph_time(view.window.starts_at),
        "end": _graph_time(view.window.ends_at),
        "showAs": "busy",
        "isReminderOn": False,
    }


def body_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# --- tokens ---------------------------------------------------------------------------------------------------------


class TokenProvider(Protocol):
    async def token(self, *, refresh: bool = False) -> str: ...


class MsalTokenProvider:
    """App-only Graph tokens from msal; every msal call runs in a worker thread (msal blocks on HTTP)."""

    def __init__(
        self,
        *,
        authority_url: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        scope: str = GRAPH_SCOPE,
        verify: bool | str = True,
        timeout: float = 10.0,
    ) -> None:
        self._authority = f"{authority_url.rstrip('/')}/{tenant_id}"
        self._client_id, self._secret, self._scope = client_id, client_secret, scope
        self._verify, self._timeout = verify, timeout
        self._app: Any = None  # msal.ConfidentialClientApplication, built on first use
        self._lock = asyncio.Lock()

    def _build(self) -> Any:
        microsoft = urlsplit(self._authority).hostname in MICROSOFT_AUTHORITY_HOSTS
        extra: dict[str, Any] = {} if microsoft else {"instance_discovery": False, "validate_authority": False}
        return msal.ConfidentialClientApplication(
            self._client_id,
            client_credential=self._secret,
            authority=self._authority,
            verify=self._verify,
            timeout=self._timeout,
            **extra,
        )

    def _acquire(self, refresh: bool) -> dict[str, Any]:
        if self._app is None:
            self._app = self._build()  # tenant discovery: one GET of the OpenID configuration
        if refresh:
            self._app.remove_tokens_for_client()
        result: dict[str, Any] = self._app.acquire_token_for_client(scopes=[self._scope]) or {}
        return result

    async def token(self, *, refresh: bool = False) -> str:
        async with self._lock:  # one acquisition at a time: the others then find msal's cache filled
            try:
                result = await asyncio.to_thread(self._acquire, refresh)
            except (requests.RequestException, ValueError) as exc:  # discovery or token endpoint unreachable
                raise RetryableDeliveryError(f"Microsoft Entra token request failed: {type(exc).__name__}") from exc
        access_token = result.get("access_token")
        if isinstance(access_token, str) and access_token:
            return access_token
        error = str(result.get("error") or "no access_token")
        message = f"Microsoft Entra refused a token: {error}"
        if error in PERMANENT_TOKEN_ERRORS:
            raise PermanentDeliveryError(message)
        raise RetryableDeliveryError(message)


# --- the notifier ---------------------------------------------------------------------------------------------------


@dataclass
class _Locks:
    """One lock per window, dropped when nobody holds or waits for it."""

    held: dict[str, asyncio.Lock] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)

    async def run(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        lock = self.held.setdefault(key, asyncio.Lock())
        self.users[key] = self.users.get(key, 0) + 1
        try:
            async with lock:
                await work()
        finally:
            self.users[key] -= 1
            if not self.users[key]:
                del self.users[key], self.held[key]


class GraphCalendarNotifier:
    """``Notifier`` for ``calendar:`` destinations: the configured mailbox (``user``) or group calendar."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        store: CalendarEventStore,
        *,
        engine: AsyncEngine,
        tokens: TokenProvider,
        api_url: str,
        user: str | None = None,
        group: str | None = None,
        locale: str = "en",
        timeout: float = 10.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if bool(user) == bool(group):
            raise ValueError("give either the mailbox (user) or the group whose calendar gets the events")
        self.calendar = str(user or group)
        owner = "users" if user else "groups"
        self._events_url = f"{api_url.rstrip('/')}/{owner}/{quote(self.calendar, safe='@')}/events"
        self._session, self._store, self._engine, self._tokens = session, store, engine, tokens
        self._locale, self._timeout, self._now = locale, aiohttp.ClientTimeout(total=timeout), now
        self._locks = _Locks()

    async def deliver(self, delivery: Delivery) -> None:
        kind, target = parse_destination(delivery.destination)
        if kind != CALENDAR_KIND or target not in (self.calendar, "default"):
            raise PermanentDeliveryError("not this notifier's calendar", destination=delivery.destination)
        source, load = self._target(delivery)

        async def sync() -> None:
            try:
                await self._sync(source, load)
            except DeliveryError as exc:
                exc.destination = exc.destination or delivery.destination
                raise

        await self._locks.run(source, sync)

    def _target(self, delivery: Delivery) -> tuple[str, Callable[[], Awaitable[dict[str, Any] | None]]]:
        """The ``calendar_events`` source the row is about, and how to read what its entry says now (None: gone)."""
        window = delivery.payload.get("window")
        window_id = window.get("id") if isinstance(window, dict) else None
        if isinstance(window_id, str) and window_id:
            return window_source(window_id), partial(self._window_body, window_id)
        appointment = delivery.payload.get("appointment")
        if isinstance(appointment, dict):
            number, seq = appointment.get("ticket_number"), appointment.get("id")
            if isinstance(number, int) and isinstance(seq, int):
                return appointment_source(number, seq), partial(self._appointment_body, number, seq)
        raise PermanentDeliveryError(
            "the row names no maintenance window or appointment", destination=delivery.destination
        )

    async def _window_body(self, window_id: str) -> dict[str, Any] | None:
        view = await load_window(self._engine, window_id)
        return None if view is None else event_body(view, self._locale)

    async def _appointment_body(self, number: int, appointment_id: int) -> dict[str, Any] | None:
        entry = await load_entry(self._engine, number, appointment_id)
        return None if entry is None else appointment_body(entry, self._locale)

    async def _sync(self, source: str, load: Callable[[], Awaitable[dict[str, Any] | None]]) -> None:
        body = await load()
        synced = await self._store.get(source, self.calendar)
        if body is None:
            await self._delete(source, synced)
        else:
            await self._upsert(source, body, synced)

    async def _upsert(self, source: str, body: dict[str, Any], synced: SyncedEvent | None) -> None:
        digest = body_hash(body)
        if synced is not None and synced.graph_event_id and not synced.deleted:
            if synced.synced_hash == digest:
                return
            status, _ = await self._call("PATCH", f"{self._events_url}/{quote(synced.graph_event_id)}", body)
            if status != 404:  # else someone deleted it in Outlook: book it again
                await self._remember(source, synced.graph_event_id, digest, deleted=False)
                return
        previous = synced.graph_event_id if synced is not None else None
        transaction = str(uuid.uuid5(_TRANSACTIONS, f"{source}|{self.calendar}|{previous or ''}"))
        status, created = await self._call("POST", self._events_url, {**body, "transactionId": transaction})
        event_id = created.get("id") if status != 404 else None
        if not isinstance(event_id, str) or not event_id:
            raise PermanentDeliveryError(f"Graph answered {status} to the create without an event id", status=status)
        await self._remember(source, event_id, digest, deleted=False)

    async def _delete(self, source: str, synced: SyncedEvent | None) -> None:
        if synced is None or synced.deleted or not synced.graph_event_id:
            return  # never booked, or removed already
        await self._call("DELETE", f"{self._events_url}/{quote(synced.graph_event_id)}", None)
        await self._remember(source, synced.graph_event_id, None, deleted=True)  # 404 included: it is gone

    async def _remember(self, source: str, event_id: str, digest: str | None, *, deleted: bool) -> None:
        await self._store.put(
            source, self.calendar, graph_event_id=event_id, synced_hash=digest, deleted=deleted, now=self._now()
        )

    async def _call(self, method: str, url: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        """Status and JSON answer; 2xx and 404 return, everything else raises. A 401 is retried once with a fresh
        token; a second one is retryable (Entra may not have propagated the app's permission yet)."""
        token = await self._tokens.token()
        status, retry_after, answer = await self._request(method, url, body, token)
        if status == 401:
            token = await self._tokens.token(refresh=True)
            status, retry_after, answer = await self._request(method, url, body, token)
        if 200 <= status <= 299 or status == 404:
            return status, answer
        message = f"{method} {self._path(url)} answered {status}: {_detail(answer)}"
        if status == 401:
            raise RetryableDeliveryError(message, status=status)
        if status in (503, 504) and retry_after is not None:
            raise RateLimitedError(message, retry_after=retry_after, status=status)
        error = error_for_status(status, retry_after=retry_after, message=message)
        raise error if error is not None else PermanentDeliveryError(message, status=status)

    async def _request(
        self, method: str, url: str, body: dict[str, Any] | None, token: str
    ) -> tuple[int, float | None, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            async with self._session.request(
                method, url, json=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), now=time.time())
                answer: Any = {}
                if response.status != 204 and response.content_type == "application/json":
                    answer = await response.json()
                return response.status, retry_after, answer if isinstance(answer, dict) else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RetryableDeliveryError(f"{method} {self._path(url)} failed: {type(exc).__name__}") from exc

    def _path(self, url: str) -> str:
        """The URL without the host, for errors: which calendar and event, not where Graph lives."""
        return urlsplit(url).path


def _detail(answer: dict[str, Any]) -> str:
    error = answer.get("error")
    if isinstance(error, dict):
        return f"{error.get('code', '')}: {error.get('message', '')}"[:_DETAIL_CHARS]
    return json.dumps(answer)[:_DETAIL_CHARS]
