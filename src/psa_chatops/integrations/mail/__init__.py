"""Inbound e-mail: parse a message, strip quotes and signatures, extract what the intake needs.

``extract.parse_mail`` is the entry point; ``message`` reads RFC 822 bytes, ``html_text`` turns HTML into text,
``reply`` (with ``quotes`` and ``signatures``) splits body, quote and signature, ``commands`` and ``autoreply``
read technicians' commands and machine-made mail. All of it is pure: no network, no database.
"""
