from __future__ import annotations

from tests.support.web import clients, people, visitor, web  # noqa: F401
