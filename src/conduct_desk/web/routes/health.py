"""``/healthz`` (alive), ``/readyz`` (can serve) and ``/metrics`` (Prometheus, behind a token).

All three are public as far as sessions go: no cookie is read or set, no CSRF, no rate limit.
``/metrics`` wants ``Authorization: Bearer <CONDUCT_METRICS_TOKEN>`` and is not served at all
(404) when no token is configured.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from conduct_desk.service.health import Figures, Histogram
from conduct_desk.web.deps import Web

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}
EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz")
def healthz() -> Response:
    """The process answers: nothing else is checked (no database call)."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz")
def readyz(web: Web) -> Response:
    """The database answers and its schema is the code's; the listeners this replica runs."""
    r = web.app.health().readiness()
    # the listeners configured; those running here are the ones whose lease this replica holds
    held = web.app.leaseholder.held() if web.app.leaseholder is not None else []
    body = {
        "status": "ready" if r.ready else "not ready",
        "database": {"reachable": r.database, "revision": r.revision, "head": r.head},
        "listeners": sorted(a.platform.name for a in web.app.adapters),
        "leases": [{"name": lease.name, "epoch": lease.epoch,
                    "expires_at": lease.expires_at.isoformat()} for lease in held],
    }
    if not r.ready:
        body["problems"] = list(r.problems)
    if r.notes:
        body["notes"] = list(r.notes)
    return JSONResponse(body, status_code=200 if r.ready else 503, headers=NO_STORE)


@router.get("/metrics")
def metrics(request: Request, web: Web) -> Response:
    token = web.metrics_token
    if token is None:  # not configured: as if there were no such page
        raise HTTPException(404)
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                             token.encode()):
        return JSONResponse({"error": {"code": "unauthorized",
                                       "message": "send Authorization: Bearer <the metrics "
                                                  "token> (CONDUCT_METRICS_TOKEN)"}},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    figures = web.app.health().figures(web.app.desk.clock.now())
    return PlainTextResponse(exposition(figures), media_type=EXPOSITION, headers=NO_STORE)


# -- the text exposition format ------------------------------------------------------------


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_label(v)}"' for k, v in pairs)
    return f"{{{inner}}}" if inner else ""


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: str) -> None:
        self.lines.append(f"{name}{_labels(labels.items())} {_number(value)}")

    def histogram(self, name: str, help_text: str, h: Histogram) -> None:
        self.family(name, "histogram", help_text)
        for bound, n in h.buckets:
            self.sample(f"{name}_bucket", n, le=_number(bound))
        self.sample(f"{name}_bucket", h.count, le="+Inf")
        self.sample(f"{name}_sum", h.total)
        self.sample(f"{name}_count", h.count)


def exposition(f: Figures) -> str:
    """Prometheus' text format (version 0.0.4). Labels: states, rungs, statuses, platforms
    and short error codes; never a person, a name or a text."""
    w = _Writer()
    w.family("conduct_cases_open", "gauge", "Open cases by state.")
    for state, n in sorted(f.open_cases.items()):
        w.sample("conduct_cases_open", n, state=state)
    w.family("conduct_oldest_untaken_case_age_seconds", "gauge",
             "Age of the oldest open case no admin has taken (0 when none).")
    w.sample("conduct_oldest_untaken_case_age_seconds", f.oldest_untaken_age)
    w.family("conduct_deadlines_overdue", "gauge",
             "Open cases past their deadline (to be taken, or to get a first step).")
    w.sample("conduct_deadlines_overdue", f.overdue)
    w.histogram("conduct_time_to_take_seconds",
                "From report to an admin taking the case; cases taken in the last 30 days.",
                f.time_to_take)
    w.histogram("conduct_time_to_first_step_seconds",
                "From report to the first step; cases first acted on in the last 30 days.",
                f.time_to_first_step)
    w.family("conduct_steps", "gauge", "Steps by rung and status.")
    for (rung, status), n in sorted(f.steps.items()):
        w.sample("conduct_steps", n, rung=rung, status=status)
    w.family("conduct_platform_failures", "gauge",
             "Steps a platform refused and that still wait, by platform and error code.")
    for (platform, code), n in sorted(f.platform_failures.items()):
        w.sample("conduct_platform_failures", n, platform=platform, error=code)
    w.family("conduct_timer_lag_seconds", "gauge",
             "How late the oldest due timer is (0 when none waits).")
    w.sample("conduct_timer_lag_seconds", f.timer_lag)
    w.family("conduct_notices_waiting", "gauge", "Notices in the outbox not sent yet.")
    w.sample("conduct_notices_waiting", f.notices.get("pending", 0))
    w.family("conduct_notices_failed", "gauge", "Notices the desk gave up sending.")
    w.sample("conduct_notices_failed", f.notices.get("failed", 0))
    return "\n".join(w.lines) + "\n"
