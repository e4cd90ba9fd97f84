"""Fixture services for the procfile tests. Loading a procfile must not import them."""
