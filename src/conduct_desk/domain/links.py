"""Links people give the desk (a message's address): only web addresses are kept or shown.

A ``javascript:`` or ``data:`` address rendered as a link runs in an admin's browser, so every
entry point checks links with :func:`is_web_link`, and the pages check again when they render.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_SCHEMES = ("http", "https")


def is_web_link(text: str) -> bool:
    """True when ``text`` is an absolute http(s) address with a host, and nothing hidden in it."""
    if not isinstance(text, str) or text != text.strip() or not text:
        return False
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in _SCHEMES and bool(parts.netloc) \
        and text.lower().startswith(("http://", "https://"))
