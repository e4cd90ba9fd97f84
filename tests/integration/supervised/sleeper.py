"""Print a line on each stream, then sleep until killed (SIGTERM ends it)."""

import sys
import time

print("hello from stdout", flush=True)
print("warming up", file=sys.stderr, flush=True)
print("ready", flush=True)
while True:
    time.sleep(3600)
