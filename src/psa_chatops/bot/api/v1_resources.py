"""API v1 beyond tickets: the directory, routing rules, admin resources and sandbox tokens, collected here so
``v1.build_api`` stays one line per group."""

from __future__ import annotations

from psa_chatops.bot.api.operations import Operation

OPERATIONS: list[Operation] = []
