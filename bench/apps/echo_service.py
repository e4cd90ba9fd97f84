"""The one service of the bench apps: ``echo(x)`` returns ``x``, as every bench server does."""

from __future__ import annotations

import hubcore


class Echo(hubcore.Service):
    def echo(self, x: object) -> object:
        return x
