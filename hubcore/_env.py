"""The environment variables hubcore reads and sets: their one home.

A supervisor sets all of them for each worker process; a process started by hand needs only
``HUBCORE_ADDRESS`` (and ``HUBCORE_TOKEN_FILE`` unless the token file sits beside the socket),
which ``hubcore env`` prints for a running app.
"""

from __future__ import annotations

__all__ = (
    "ADDRESS",
    "APP_SPEC",
    "INSTANCE",
    "PROCESS",
    "SUPERVISOR_PID",
    "TOKEN_FILE",
    "TRACE",
)

ADDRESS = "HUBCORE_ADDRESS"  # the hub's socket: what the default client connects to
TOKEN_FILE = "HUBCORE_TOKEN_FILE"  # the file holding the hub's token
PROCESS = "HUBCORE_PROCESS"  # this process's name in the app (names it in errors and logs)
INSTANCE = "HUBCORE_INSTANCE"  # this process's instance number
APP_SPEC = "HUBCORE_APP_SPEC"  # a worker's resolved procfile (app.json in the run directory)
SUPERVISOR_PID = "HUBCORE_SUPERVISOR_PID"  # a worker exits if this process is gone
TRACE = "HUBCORE_TRACE"  # set (to anything): clients record the calls they make
