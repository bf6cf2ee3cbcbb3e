"""Prometheus metrics on a per-application registry (no process globals, so tests can build many apps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("psa_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("psa_http_request_seconds", "HTTP request latency", ["method", "route"], registry=r)
        self.outbox_depth = Gauge("psa_outbox_rows", "Outbox rows by status", ["status"], registry=r)
        self.outbox_age = Gauge("psa_outbox_oldest_pending_seconds", "Age of the oldest pending row", registry=r)
        self.deliveries = Counter("psa_deliveries", "Delivery attempts by outcome", ["kind", "outcome"], registry=r)
        self.breaker_state = Gauge(
            "psa_breaker_open", "1 when a destination's breaker is open or half-open", ["destination"], registry=r
        )
        self.commands = Counter("psa_commands", "Commands handled", ["command", "outcome"], registry=r)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Labelled children are looked up once per (method, route, status): ``labels()`` is slow per request."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
