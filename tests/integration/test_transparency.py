"""The public transparency report, on SQLite and PostgreSQL: figures of a period from the
desk's own records, small counts left out, on the web (no sign-in), as JSON and from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from tests.support.accounts import add_admins
from tests.support.web import file_case

import conduct_desk
from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock


def _busy_quarter(app: App, clock: FakeClock) -> None:
    """Seven cases in 2026-Q4: six reminded (taken 30 min after the report), five of them
    warned too; one case untaken past its deadline; one resolved as no action."""
    add_admins(app, "ana")
    for i in range(7):
        file_case(app, subject=f"s{i}", reporter=f"r{i}", hurt=(), message_id=f"m{i}")
    clock.advance(timedelta(minutes=30))
    for i in range(1, 7):
        app.bus.handle(commands.TakeStep(i, "remind", "ana"))
    for i in range(1, 6):
        app.bus.handle(commands.TakeStep(i, "warn", "ana", reason="for the record"))
    app.bus.handle(commands.ResolveCase(1, "ana", "no-action", reason="talked it through"))
    clock.advance(timedelta(hours=3))  # case 7 was never taken: its deadline passed


def test_the_report_counts_the_period_and_leaves_out_small_counts(
        app: App, clock: FakeClock, web: object) -> None:
    _busy_quarter(app, clock)
    visitor = TestClient(web)  # type: ignore[arg-type]
    body = visitor.get("/transparency.json?period=2026-Q4").json()
    assert body["reports"] == 7 and body["cases_opened"] == 7
    assert body["steps"]["by"] == {"remind": 6, "suggest": 0, "remove": 0, "warn": 5,
                                   "suspend": 0, "ban": 0}
    assert body["steps"]["total"] == 11
    assert body["outcomes"]["total"] is None  # one case resolved: too few to say anything
    assert body["time_to_take"]["cases"] == 6 and body["time_to_take"]["p50_seconds"] == 1800
    assert body["deadlines_missed"]["take"] is None  # one missed deadline: left out
    assert body["suppressed_below"] == 5
    page = visitor.get("/transparency?period=2026-Q4")
    assert page.status_code == 200 and "fewer than 5" in page.text
    assert "30 minutes" in page.text
    for person in ("s1", "r1", "ana"):  # names of no one
        assert person not in page.text.replace("Transparency", "")
    # another quarter holds nothing
    assert visitor.get("/transparency.json?period=2026-Q3").json()["reports"] == 0


def test_a_wrong_period_says_what_to_write(app: App, web: object) -> None:
    visitor = TestClient(web)  # type: ignore[arg-type]
    page = visitor.get("/transparency?period=autumn")
    assert page.status_code == 422 and "the Period field" in page.text and "2026-Q4" in page.text
    r = visitor.get("/transparency.json?period=2026-Q9")
    assert r.status_code == 422 and r.json()["field"] == "period"


def test_the_command_line_writes_each_format(app: App, clock: FakeClock, tmp_path: Path) -> None:
    add_admins(app, "ana")
    for i in range(6):
        file_case(app, subject=f"s{i}", reporter=f"r{i}", hurt=(), message_id=f"m{i}")
    here = str(Path(conduct_desk.__file__).parents[1])
    env = {**os.environ, "CONDUCT_DATABASE_URL": app.settings.database_url,
           "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    env.pop("CONDUCT_POLICY", None)

    def run(*args: str, code: int = 0) -> str:
        done = subprocess.run([sys.executable, "-m", "conduct_desk", "transparency", *args],
                              env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == code, done.stderr
        return done.stdout if code == 0 else done.stderr

    md = run("--period", "2026-Q4")
    assert md.startswith("# Transparency report") and "| reports received | 6 |" in md
    assert json.loads(run("--period", "2026-Q4", "--format", "json"))["cases_opened"] == 6
    assert "<th scope=\"row\">reports received</th><td>6</td>" in run(
        "--period", "2026-Q4", "--format", "html")
    err = run("--period", "Q4", code=2)
    assert "2026-Q4" in err and len(err.strip().splitlines()) == 1
    assert PersonRef.parse("s1")  # the subjects exist; the report names none of them
    assert "s1" not in md and "r1" not in md
