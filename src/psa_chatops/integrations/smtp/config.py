"""``PSA_SMTP_URL``: where and how we hand mail to the relay.

``smtp://host[:25]`` plain (a relay on the same host or network), ``smtp+starttls://user@host[:587]`` upgraded
with STARTTLS (the submission port; the connection fails rather than send in clear text when the server offers no
STARTTLS), ``smtps://user@host[:465]`` implicit TLS. The user name may be percent-encoded (``me%40x.de``). The
password never sits in the URL (it would be logged and shown by ``psa doctor``): ``PSA_SMTP_PASSWORD``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

Security = Literal["none", "starttls", "tls"]
SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    username: str | None = None

    def describe(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{self.security} {user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpServer:
    """The server named by ``url``; raises ``ValueError`` naming what is wrong."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}:// (got {scheme or 'none'!r})")
    if parts.password is not None:
        raise ValueError("no password in the URL: set PSA_SMTP_PASSWORD")
    if not parts.hostname:
        raise ValueError("the URL names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("the URL has only scheme, user, host and port")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("the port must be a number from 1 to 65535") from exc
    security, default_port = SCHEMES[scheme]
    username = unquote(parts.username) if parts.username else None
    return SmtpServer(parts.hostname, port or default_port, security, username)
