from __future__ import annotations

from tests.support.web import clients, visitor, web  # noqa: F401
