"""RFC 9457 problem details for the API: one stable ``type`` per kind of failure, a translated ``title``.

Clients branch on ``type`` (it never changes); people read ``title`` and ``detail`` (in their Accept-Language).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from psa_chatops.core.errors import N_

PROBLEM_BASE = "https://psa-chatops.dev/problems/"
PROBLEM_JSON = "application/problem+json"

TITLES: dict[str, str] = {
    "validation-error": N_("The request body is invalid."),
    "invalid-parameter": N_("A query or path parameter is invalid."),
    "malformed-json": N_("The request body is not valid JSON."),
    "unauthorized": N_("Authentication is required."),
    "invalid-credentials": N_("The API key or token is not valid."),
    "forbidden": N_("You are not allowed to do this."),
    "insufficient-scope": N_("The API key or token lacks a required scope."),
    "ip-not-allowed": N_("Requests from this address are not allowed for this API key."),
    "signature-required": N_("This request must be signed (X-PSA-Timestamp and X-PSA-Signature)."),
    "invalid-signature": N_("The request signature is not valid."),
    "signature-expired": N_("The request signature's timestamp is too old or too far in the future."),
    "signature-replayed": N_("This signed request was already received."),
    "not-found": N_("Not found."),
    "conflict": N_("The request conflicts with the current state."),
    "precondition-failed": N_("The resource has changed since you read it."),
    "precondition-required": N_("This request needs an If-Match header."),
    "idempotency-key-reused": N_("This Idempotency-Key was already used with a different request."),
    "idempotency-key-in-use": N_("A request with this Idempotency-Key is still being processed."),
    "rate-limited": N_("Too many requests; slow down."),
    "payload-too-large": N_("The request body is too large."),
    "unsupported-media-type": N_("Send the request body as application/json."),
    "method-not-allowed": N_("This method is not allowed here."),
    "identity-provider-unavailable": N_("The identity provider cannot be reached; try again shortly."),
    "internal": N_("Internal error; the request id is in the logs."),
}


class ProblemError(Exception):
    """Raised anywhere under the API; the gateway renders it. ``slug`` must be a key of ``TITLES``."""

    def __init__(
        self,
        status: int,
        slug: str,
        *,
        detail: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if slug not in TITLES:
            raise ValueError(f"unknown problem type {slug!r}")
        super().__init__(f"{status} {slug}")
        self.status, self.slug, self.detail = status, slug, detail
        self.errors = list(errors or [])
        self.headers = dict(headers or {})
        self.params = dict(params or {})


def problem_body(status: int, slug: str, title: str, *, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(
        {k: list(v) if isinstance(v, Sequence) and not isinstance(v, str) else v for k, v in extra.items() if v}
    )
    return body


def problem_response(body: dict[str, Any], headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=body["status"], content_type=PROBLEM_JSON, headers=headers)
