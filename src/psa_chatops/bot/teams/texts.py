"""Every user-visible sentence of the Teams adapter that the renderers do not own (catalog msgids, ``N_``)."""

from __future__ import annotations

from psa_chatops.core.errors import N_

LINKED = N_("Your Teams account is now linked to {name} ({email}).")
ESCALATED_FROM_TEAMS = N_("Escalated from Teams.")
NO_EMAIL = N_("Teams did not share your e-mail address; ask an admin to link your account.")
UNKNOWN_MEMBER = N_("Teams does not know you in this conversation; try again in a chat with the bot.")
REQUIRED = N_("Please fill this in: {field}.")
IN_PROGRESS = N_("Still working on your last click; try again in a moment.")
