"""One process publishing ``echo``: the app the CLI measures run against."""

from typing import Any


def procfile(app: Any) -> None:
    app.service("echo", "echo_service:Echo").publish()
