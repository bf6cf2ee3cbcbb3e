"""Integration tests use the loopback ``sink`` and ``http_session`` fixtures from ``tests/conftest.py``."""
