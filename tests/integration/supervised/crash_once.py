"""First run (flag file absent): create the flag, exit with code 3. Later runs: sleep."""

import pathlib
import sys
import time

flag = pathlib.Path(sys.argv[1])
if not flag.exists():
    flag.touch()
    print("first run: crashing", file=sys.stderr, flush=True)
    sys.exit(3)
print("ready", flush=True)
while True:
    time.sleep(3600)
