"""Allocate memory (touched pages) in 8 MiB steps until killed; stop growing at 1 GiB."""

import time

chunks = []
print("ready", flush=True)
while True:
    if len(chunks) < 128:
        chunks.append(b"x" * (8 * 1024 * 1024))
    time.sleep(0.02)
