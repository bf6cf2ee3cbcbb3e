"""Inbound mailboxes: IMAP (IDLE), POP3 and Microsoft Graph readers feeding the e-mail intake use-case.

``config`` reads ``PSA_MAILBOXES``; ``imap``, ``pop3`` and ``graph`` read one mailbox each behind the
``readers.MailboxReader`` protocol; ``intake`` turns raw bytes into one ``IntakeMail`` on the bus; ``runner``
drains a mailbox (fetch -> commit -> mark) and reconnects with backoff; ``wiring`` builds them from the settings.
"""
