"""Views as e-mail: a subject, a plain text part and an HTML part rendered from the same content (pure)."""
