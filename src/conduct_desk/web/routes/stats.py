"""Stats: how quickly cases are taken and acted on, open cases over time, steps by rung."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from conduct_desk.service import views
from conduct_desk.web import charts
from conduct_desk.web.deps import SignedIn, Web
from conduct_desk.web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/stats")
def stats_page(request: Request, web: Web, admin: SignedIn,
               days: Annotated[int, Query(ge=1, le=365)] = 30) -> Response:
    s = views.stats(web.app.uow(), web.app.desk, days)
    return render(request, "stats.html", {
        "s": s, "days": days,
        "take_chart": charts.bar_chart("Time until a case was taken",
                                       charts.distribution(s.to_take)),
        "step_chart": charts.bar_chart("Time until the first step",
                                       charts.distribution(s.to_first_step)),
        "open_chart": charts.line_chart("Open cases at the end of each day",
                                        [(f"{at:%d %b}", n) for at, n in s.open_per_day]),
        "rung_chart": charts.bar_chart("Steps taken, by rung", s.steps_by_rung, "steps"),
    })
