"""The seeded-database fixtures live in ``tests/conftest.py``; ``ContextFor`` is re-exported for the tests."""

from tests.conftest import ContextFor

__all__ = ["ContextFor"]
