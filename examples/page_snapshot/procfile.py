"""page_snapshot: a web front end that asks an isolated headless browser for page snapshots.

``background`` drives Chromium (heavy, crash-prone, memory-hungry): it is capped and restarted
on its own. ``worker`` serves HTTP and only ever talks to the browser through the hub.
See docs/example-page-snapshot.md.
"""

import os

PORT_ENV = "HUBCORE_PAGE_SNAPSHOT_PORT"
TIMEOUT_ENV = "HUBCORE_PAGE_SNAPSHOT_TIMEOUT"


def procfile(app):
    # The supervisor measures the worker and its Chromium processes by PSS (shared pages
    # counted once): ~0.4 GiB idle and ~0.6 GiB with 4 pages open. 1.5 GiB catches a leak.
    app.process("background").memory_limit("1536MiB")
    app.service("page_snapshot", "services.page_snapshot:PageSnapshot").config(
        max_pages=4, page_timeout=15.0
    ).publish()

    # A fixed port when asked for one (HUBCORE_PAGE_SNAPSHOT_PORT=8080), a free one otherwise.
    port = int(os.environ.get(PORT_ENV) or 0) or app.free_port()
    timeout = float(os.environ.get(TIMEOUT_ENV) or 20.0)
    app.service("web", "services.web:Web").process("worker").config(
        host="127.0.0.1", port=port, snapshot_timeout=timeout
    ).depends_on("page_snapshot")
