"""The public transparency report: figures of a period, small counts left out. No sign-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from conduct_desk.domain.errors import DeskError
from conduct_desk.domain.transparency import Period, as_dict, checkpoint_text, intro, rows
from conduct_desk.web.deps import Web
from conduct_desk.web.pages import error_text, render

router = APIRouter(include_in_schema=False)
PeriodText = Annotated[str, Query(max_length=16)]


def _last_quarter(now_year: int, now_month: int) -> str:
    q = (now_month - 1) // 3  # the quarter before this one: a finished one
    return f"{now_year - 1}-Q4" if q == 0 else f"{now_year}-Q{q}"


@router.get("/transparency")
def transparency_page(request: Request, web: Web, period: PeriodText = "") -> Response:
    now = web.app.desk.clock.now()
    error = None
    try:
        p = Period.parse(period or _last_quarter(now.year, now.month))
    except DeskError as exc:
        error, p = error_text(exc, {"period": "the Period field"}), Period.parse(
            _last_quarter(now.year, now.month))
    report = web.app.transparency(p)
    return render(request, "transparency.html", {
        "report": report, "sections": rows(report), "intro": intro(report),
        "checkpoint": checkpoint_text(report), "error": error,
    }, 422 if error else 200)


@router.get("/transparency.json")
def transparency_json(web: Web, period: PeriodText = "") -> Response:
    now = web.app.desk.clock.now()
    try:
        p = Period.parse(period or _last_quarter(now.year, now.month))
    except DeskError as exc:
        return JSONResponse({"error": exc.problem, "field": "period",
                             "fix": "give a quarter (2026-Q4), a month (2026-11) or a year"},
                            status_code=422)
    return JSONResponse(as_dict(web.app.transparency(p)))
