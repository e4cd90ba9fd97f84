"""``worker`` scaled to $BENCH_SCALE_WORKERS instances (64 by default), each publishing ``echo``."""

import os
from typing import Any


def procfile(app: Any) -> None:
    app.process("worker").scale(int(os.environ.get("BENCH_SCALE_WORKERS", "64")))
    app.service("echo", "echo_service:Echo").process("worker").publish()
