"""Helpers for tests and benchmarks that need a real triple-store server.

``kg.testing.virtuoso`` starts a throwaway Virtuoso 7 on 127.0.0.1; nothing here
is imported by kgsearch itself.
"""

from kg.testing.virtuoso import VirtuosoServer, virtuoso_available

__all__ = ["VirtuosoServer", "virtuoso_available"]
