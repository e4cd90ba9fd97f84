"""Exit with code 3 at once, leaving an unterminated, invalid UTF-8 last line on stderr."""

import sys

sys.stderr.buffer.write(b"fatal: boom \xff")
sys.exit(3)
