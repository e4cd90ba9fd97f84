"""Fixture service module that fails on import."""


class Svc:
    """Stands in for a service class."""


raise RuntimeError("tripwire.svc imported: load_procfile must not import service modules")
