"""``python -m hubcore.cli``: the ``hubcore`` command (what ``hubcore start`` spawns)."""

from __future__ import annotations

import sys

from hubcore.cli import main

sys.exit(main())
