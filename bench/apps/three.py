"""Three processes, one ``echo`` each: the app whose boot is timed up to the first call."""

from typing import Any


def procfile(app: Any) -> None:
    for process in ("first", "second", "third"):
        app.service(f"echo_{process}", "echo_service:Echo").process(process).publish()
