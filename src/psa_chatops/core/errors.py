"""Domain errors: what went wrong, in words a technician understands.

    DomainError
     ├── NotFoundError        the ticket, customer, ... does not exist (or is outside the actor's scope)
     ├── ForbiddenError       the actor may not do this
     ├── InvalidError         the request makes no sense (bad value, invalid status transition)
     └── ConflictError        the state changed underneath (retry) or the request duplicates existing state
          ├── ConcurrencyError  optimistic concurrency: another writer appended first; reload and retry
          └── PreconditionFailedError  the caller's expected version is not the current one (HTTP If-Match)

The template is the English msgid of the message catalog (gettext style, marked with ``N_``); adapters translate
it into the recipient's language with ``psa_chatops.i18n`` and fill in ``params``.
"""

from __future__ import annotations

from typing import Any, ClassVar


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark for extraction, translate later"
    return message


class Label(str):
    """A msgid passed as a message parameter (a status or priority name): renderers translate it as well."""

    __slots__ = ()
    translatable = True


class DomainError(Exception):
    kind: ClassVar[str] = "invalid"

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        super().__init__(template.format(**params))


class NotFoundError(DomainError):
    kind = "not_found"


class ForbiddenError(DomainError):
    kind = "forbidden"


class InvalidError(DomainError):
    kind = "invalid"


class ConflictError(DomainError):
    kind = "conflict"


class ConcurrencyError(ConflictError):
    kind = "concurrency"


class PreconditionFailedError(ConflictError):
    kind = "precondition"
