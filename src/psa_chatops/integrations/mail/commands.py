"""E-mail commands for technicians: ``#status=resolved``, ``#assign=anna@msp.example``, ``#priority=high``,
``#internal`` / ``#public`` on the first lines of a reply.

Only the lines at the very top count (blank lines between them are fine); the first other line ends the command
block, so a "#1" in the text or a hashtag further down is never a command. Command lines are taken out of the
body. Parsing only: whether the sender may apply them is decided later, with the sender's permissions. A line that
looks like a command but is not one we know, or has a value we do not accept, is reported as a warning and kept
out of the body as well (the technician meant it as a command).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from psa_chatops.core.errors import N_
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets_state import Status
from psa_chatops.i18n import translate

_COMMAND_LINE = re.compile(r"^\s*#([a-z_-]+)\s*(?:[=:]\s*(.*?))?\s*$", re.IGNORECASE)
_ADDRESS_OR_ID = re.compile(r"^(?:[\w.+'-]+@[\w-]+(?:\.[\w-]+)+|[\w.-]{1,64})$")
_STATUS_ALIASES = {"waiting": Status.WAITING_CUSTOMER, "in-progress": Status.IN_PROGRESS, "done": Status.RESOLVED}
_PRIORITY_ALIASES = {"urgent": Priority.CRITICAL, "normal": Priority.MEDIUM}
_GERMAN_ALIASES = {
    "erledigt": "resolved",
    "gelöst": "resolved",
    "geschlossen": "closed",
    "offen": "open",
    "hoch": "high",
    "mittel": "medium",
    "niedrig": "low",
    "kritisch": "critical",
}


class CommandName(StrEnum):
    STATUS = "status"
    ASSIGN = "assign"
    PRIORITY = "priority"
    VISIBILITY = "visibility"


@dataclass(frozen=True)
class MailCommand:
    name: CommandName
    value: str  # a Status or Priority value, an e-mail address or technician id, or "internal"/"public"
    line: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name.value, "value": self.value}


@dataclass(frozen=True)
class CommandProblem:
    line: str
    reason: str  # a msgid

    def text(self, locale: str = "en") -> str:
        return translate(self.reason, locale, line=self.line)


@dataclass(frozen=True)
class CommandBlock:
    commands: tuple[MailCommand, ...]
    problems: tuple[CommandProblem, ...]
    body: str  # the text without the command lines


def parse_commands(text: str) -> CommandBlock:
    lines = text.split("\n")
    commands: list[MailCommand] = []
    problems: list[CommandProblem] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _COMMAND_LINE.match(line)
        if not line.strip():
            index += 1
            continue
        if match is None:
            break
        parsed = _command(match.group(1).lower(), (match.group(2) or "").strip(), line.strip())
        if isinstance(parsed, MailCommand):
            commands.append(parsed)
        else:
            problems.append(parsed)
        index += 1
    if not commands and not problems:
        return CommandBlock((), (), text)
    return CommandBlock(tuple(commands), tuple(problems), "\n".join(lines[index:]).strip("\n"))


def _command(name: str, value: str, line: str) -> MailCommand | CommandProblem:
    lowered = _GERMAN_ALIASES.get(value.lower(), value.lower())
    if name in ("status", "state"):
        status = _STATUS_ALIASES.get(lowered) or next((s for s in Status if s.value == lowered), None)
        if status is None:
            return CommandProblem(line, N_("Unknown status in e-mail command {line}."))
        return MailCommand(CommandName.STATUS, status.value, line)
    if name in ("priority", "prio"):
        priority = _PRIORITY_ALIASES.get(lowered) or next((p for p in Priority if p.value == lowered), None)
        if priority is None:
            return CommandProblem(line, N_("Unknown priority in e-mail command {line}."))
        return MailCommand(CommandName.PRIORITY, priority.value, line)
    if name in ("assign", "assignee"):
        if not _ADDRESS_OR_ID.match(value):
            return CommandProblem(line, N_("E-mail command {line} needs an e-mail address or technician id."))
        return MailCommand(CommandName.ASSIGN, value.lower() if "@" in value else value, line)
    if name in ("internal", "public", "intern", "öffentlich") and not value:
        visibility = "internal" if name in ("internal", "intern") else "public"
        return MailCommand(CommandName.VISIBILITY, visibility, line)
    return CommandProblem(line, N_("Unknown e-mail command {line}."))
