"""Every user-visible sentence of the Slack adapter that the renderers do not own (catalog msgids, ``N_``)."""

from __future__ import annotations

from psa_chatops.core.errors import N_

LINKED = N_("Your Slack account is now linked to {name} ({email}).")
ESCALATED_FROM_SLACK = N_("Escalated from Slack.")
REQUIRED = N_("Please fill this in.")
NO_CUSTOMER = N_("No customer matches “{value}”.")
MANY_CUSTOMERS = N_("Several customers match “{value}”: {names}. Use the customer id.")
NOT_LINKED_USER = N_("<@{user}> is not linked to a technician yet (/psa link).")
NO_EMAIL = N_("Slack did not share your e-mail address; ask an admin to link your account.")
NO_TECHNICIAN = N_("No technician has the e-mail address {email}.")
UNKNOWN_USER = N_("Slack does not know the user {user}.")
