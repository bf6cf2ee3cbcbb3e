"""The verbs and input ids that tie rendered Adaptive Cards to the invoke handlers (``bot.teams``): one place, so
a renamed action cannot silently stop working. Every action's ``data`` carries ``number`` and ``version``."""

from __future__ import annotations

# Action.Execute verbs (the Action.Submit fallback carries the same value under data["verb"]).
ASSIGN_TO_ME = "ticket.assign_to_me"
SET_STATUS = "ticket.set_status"  # data: number, version; input STATUS carries the new status
ADD_NOTE = "ticket.add_note"  # inputs NOTE_BODY, NOTE_VISIBILITY
ESCALATE = "ticket.escalate"  # input ESCALATION_REASON
CLOSE = "ticket.close"  # input RESOLUTION
REFRESH = "ticket.refresh"  # the card's refresh action: re-render for the viewer
NEW_TICKET = "ticket.new"  # the "new ticket" form's submit
VERB_PREFIX = "ticket."

# Alert card verbs (``cards.teams.alert``): data carries "provider" and "alert_id" instead of number/version.
ALERT_ACKNOWLEDGE = "alert.acknowledge"
ALERT_ASSIGN_TO_ME = "alert.assign_to_me"
ALERT_CREATE_TICKET = "alert.create_ticket"
ALERT_ESCALATE = "alert.escalate"  # input ALERT_REASON (optional)
ALERT_FALSE_POSITIVE = "alert.false_positive"  # input ALERT_COMMENT (optional)
ALERT_ISOLATE = "alert.isolate"  # admins only, behind a ShowCard confirmation
ALERT_VERB_PREFIX = "alert."

# Input ids inside cards.
STATUS = "status"
NOTE_BODY = "note"
NOTE_VISIBILITY = "visibility"  # "internal" | "public"
ESCALATION_REASON = "reason"
RESOLUTION = "resolution"
ALERT_COMMENT = "alert_comment"
ALERT_REASON = "alert_reason"
TITLE = "title"
DESCRIPTION = "description"
CUSTOMER = "customer"
PRIORITY = "priority"
ASSET = "asset"

MAX_REFRESH_USERS = 60  # Teams honours "refresh.userIds" for at most 60 users
BOT_CARD_LIMIT = 100 * 1024  # bytes, a bot message with its card
WORKFLOWS_CARD_LIMIT = 28 * 1024  # bytes, a Workflows (Power Automate) webhook post
