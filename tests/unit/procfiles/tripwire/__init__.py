"""Fixture package that fails on import: proves that loading a procfile imports no service."""

raise RuntimeError("tripwire imported: load_procfile must not import service packages")
