"""Start two grandchildren that sleep forever and ignore SIGTERM: one in this process group,
one in a session of its own (out of reach of killpg). Print their pids, then sleep."""

import subprocess
import sys
import time

CODE = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"
same_group = subprocess.Popen([sys.executable, "-c", CODE])
own_session = subprocess.Popen([sys.executable, "-c", CODE], start_new_session=True)
print(f"grandchild {same_group.pid}", flush=True)
print(f"grandchild {own_session.pid}", flush=True)
print("ready", flush=True)
while True:
    time.sleep(3600)
