"""Outgoing e-mail: ticket notifications and reports through the outbox, over SMTP or Microsoft Graph ``sendMail``."""
