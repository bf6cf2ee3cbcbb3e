"""The ids that tie rendered Block Kit to the listeners that handle it (``bot.slack``): one place, so a renamed
action cannot silently stop working. Action values carry the ticket number (and its version, to refuse a click
on a stale card politely)."""

from __future__ import annotations

# Buttons and selects on the ticket card: ``action_id`` values (the block's ``value`` is "<number>:<version>").
ASSIGN_TO_ME = "ticket.assign_to_me"
SET_STATUS = "ticket.set_status"  # static_select; the selected option's value is the status
ADD_NOTE = "ticket.add_note"  # opens the note modal
ESCALATE = "ticket.escalate"  # button with a confirm dialog
CLOSE = "ticket.close"  # opens the close modal (resolution)
OPEN_IN_PSA = "ticket.open_in_psa"  # URL button; Slack still sends an action, which is acked and ignored
SHARE = "ticket.share"  # "Share in channel" on the ephemeral card
ACTION_PREFIX = "ticket."

# Buttons on the alert card (``cards.slack.alert``): the value is "<provider>/<alert id>" (``cards.alert_facts``).
ALERT_ACKNOWLEDGE = "alert.acknowledge"
ALERT_ASSIGN_TO_ME = "alert.assign_to_me"  # assigns the alert's ticket
ALERT_CREATE_TICKET = "alert.create_ticket"  # notify_only alerts without a ticket
ALERT_ESCALATE = "alert.escalate"  # confirm dialog
ALERT_FALSE_POSITIVE = "alert.false_positive"  # confirm dialog; closes the ticket
ALERT_ISOLATE = "alert.isolate"  # admins only, confirm dialog
ALERT_OPEN_TICKET = "alert.open_ticket"  # URL button to the ticket; acked and ignored
ALERT_PREFIX = "alert."

# Modals: ``callback_id`` values; ``private_metadata`` is a JSON object (ticket number, channel, thread ts, ...).
NEW_TICKET_MODAL = "modal.new_ticket"
ADD_NOTE_MODAL = "modal.add_note"
CLOSE_MODAL = "modal.close"

# Inputs inside modals: (block_id, action_id) pairs, read back from ``view.state.values``.
CUSTOMER = ("customer", "customer_select")  # external_select: options come from the options listener
TITLE = ("title", "title_input")
DESCRIPTION = ("description", "description_input")
PRIORITY = ("priority", "priority_select")
ASSET = ("asset", "asset_select")  # external_select, filtered by the chosen customer
ASSIGNEE = ("assignee", "assignee_select")
NOTE_BODY = ("note", "note_input")
NOTE_VISIBILITY = ("visibility", "visibility_radio")  # "internal" | "public"
RESOLUTION = ("resolution", "resolution_input")

# Shortcuts
CREATE_FROM_MESSAGE = "shortcut.create_ticket_from_message"  # message shortcut
NEW_TICKET_GLOBAL = "shortcut.new_ticket"  # global shortcut

# The 🎫 reaction (setting ``slack_ticket_reaction``): a reaction carries no trigger, so the reacting user gets an
# ephemeral prompt whose button (value: JSON {"channel", "ts"}) opens the prefilled New ticket modal.
CREATE_FROM_REACTION = "reaction.create_ticket"
TICKET_REACTION = "ticket"  # the emoji name Slack sends for 🎫

# App Home quick actions
HOME_NEW_TICKET = "home.new_ticket"
HOME_REFRESH = "home.refresh"


def action_value(number: int, version: int) -> str:
    return f"{number}:{version}"


def parse_action_value(value: str) -> tuple[int, int | None]:
    """(number, version) from a button value; ``ValueError`` when it is not one of ours."""
    number, _, version = value.partition(":")
    return int(number), (int(version) if version else None)
