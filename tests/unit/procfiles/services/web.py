"""Fixture service module binding names in every top-level form the import check reads."""

from json import dumps as encode

try:
    import tomllib
except ImportError:
    tomllib = None

count: int = 0


class Web:
    """Stands in for a service class."""


def make_web() -> Web:
    """A factory at top level."""
    global made
    made = Web()
    return made


ALIAS = Web

if count == 0:

    class Conditional:
        """A class bound inside an if block."""


__all__ = ["ALIAS", "Conditional", "Web", "encode", "make_web", "tomllib"]
