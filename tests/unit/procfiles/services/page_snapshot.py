"""Fixture service module."""


class PageSnapshot:
    """Stands in for a service class."""
