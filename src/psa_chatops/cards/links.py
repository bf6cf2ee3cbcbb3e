"""URLs into the PSA that every channel links to; one place, so Slack and Teams never point to different pages."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import SplitResult, urlsplit

__all__ = ["number_from_url", "ticket_url", "tickets_url"]

_TICKET_PATH: Final = re.compile(r"(?:api/v1/)?tickets/([1-9][0-9]{0,17})/?")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def ticket_url(public_url: str, number: int) -> str:
    """The ticket's page in the PSA: ``{public_url}/tickets/{number}``."""
    return f"{public_url.rstrip('/')}/tickets/{number}"


def tickets_url(public_url: str) -> str:
    """The PSA's ticket list, where "more in PSA" links point."""
    return f"{public_url.rstrip('/')}/tickets"


def number_from_url(public_url: str, url: str) -> int | None:
    """The ticket number when ``url`` is one of ours (``{public_url}/tickets/{n}`` or ``.../api/v1/tickets/{n}``,
    with or without a trailing slash, query or fragment), else None."""
    base, target = urlsplit(public_url.strip()), urlsplit(url.strip())
    if _origin(base) is None or _origin(base) != _origin(target):
        return None
    prefix = base.path.rstrip("/") + "/"
    if not target.path.startswith(prefix):
        return None
    match = _TICKET_PATH.fullmatch(target.path[len(prefix) :])
    return int(match.group(1)) if match else None


def _origin(parts: SplitResult) -> tuple[str, str, int] | None:
    try:
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower(), port or _DEFAULT_PORTS[scheme]
