"""Jinja2 filters: times, spans and deadline words as the pages show them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from jinja2 import Environment

from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.links import is_web_link


def when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else ""


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def span(value: timedelta | None) -> str:
    if value is None:
        return ""
    minutes = max(1, round(value.total_seconds() / 60))
    return humanize_span(timedelta(minutes=minutes))


def slug(value: Any) -> str:
    return str(value).replace(" ", "-")


def person_url(value: Any) -> str:
    return "/people/" + quote(str(value), safe=":@")


def web_link(value: Any) -> str:
    """The address when it is http(s), else "": rows stored before links were checked (or
    by another path) never become a ``javascript:`` link on a page."""
    return value if isinstance(value, str) and is_web_link(value) else ""


def install(env: Environment) -> None:
    env.filters.update(when=when, iso=iso, span=span, slug=slug, person_url=person_url,
                       web_link=web_link)
