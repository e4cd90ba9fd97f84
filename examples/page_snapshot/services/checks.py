"""Argument checks shared by the web front end and the browser service.

The web service runs them to answer 400 without a round trip; ``take()`` runs them again
because any process on the machine may call it. Kept free of Playwright and aiohttp imports,
so that importing it costs neither process anything.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_SIDE = 4096  # pixels, for the viewport; a full-page shot can still be taller


def check_request(url: object, width: object, height: object, quality: object = 60) -> None:
    """Refuse what no browser should be asked for.

    :raises ValueError: the URL is not absolute http(s) (no ``file:``, ``data:``, ...), or a
        size or the quality is not an int in range. The message is one line.
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be an absolute http:// or https:// URL, got {url!r}")
    for name, value, low, high in (
        ("width", width, 16, MAX_SIDE),
        ("height", height, 16, MAX_SIDE),
        ("quality", quality, 1, 100),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{name} must be an int from {low} to {high}, got {value!r}")
