"""Which event loop runs the current task: asyncio (uvloop included) or trio.

anyio no longer depends on sniffio, so hubcore asks the loops themselves. trio is looked up
only if something already imported it: a process that never imported trio runs asyncio.
"""

from __future__ import annotations

import sys
from typing import Literal

__all__ = ("running_backend",)


def running_backend() -> Literal["asyncio", "trio"]:
    """``"trio"`` inside a trio run, else ``"asyncio"`` (uvloop is an asyncio loop)."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            return "trio"
    return "asyncio"
