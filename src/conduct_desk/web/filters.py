"""Jinja2 filters: times, spans and deadline words as the pages show them."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.links import is_web_link


def local_time(value: datetime, zone: str) -> str:
    """``value`` as read in ``zone``: "2026-12-03 15:00 CET"; UTC when the zone is unknown."""
    try:
        local = value.astimezone(zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        local = value.astimezone(UTC)
    name = local.tzname() or ""
    if not name.isalpha():  # zones without a common abbreviation: "-03" -> "UTC-03"
        offset = local.strftime("%z")  # "+0545"
        name = "UTC" + offset[:3] + (f":{offset[3:]}" if offset[3:] != "00" else "")
    return f"{local:%Y-%m-%d %H:%M} {name}"


@functools.lru_cache(maxsize=4096)  # a case page shows a person's history: many times, again
def time_element(value: datetime, zone: str) -> Markup:
    """A ``<time>`` showing ``value`` in ``zone``, with UTC in its title (shown on hover)."""
    utc = value.astimezone(UTC)
    return Markup(f'<time datetime="{escape(utc.isoformat())}" '
                  f'title="{utc:%Y-%m-%d %H:%M} UTC">{escape(local_time(utc, zone))}</time>')


@pass_context
def when(ctx: Context, value: datetime | None) -> Markup | str:
    """A time on a page: in the signed-in account's time zone (UTC for visitors)."""
    if not value:
        return ""
    return time_element(value, getattr(ctx.get("admin"), "time_zone", None) or "UTC")


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
