"""``/healthz``, ``/readyz`` and ``/metrics`` (issue 13, item 2), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr
from tests.support.web import file_case

from conduct_desk.bootstrap import App
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.health import error_code
from conduct_desk.storage.db import check_migrated, create_engine, head_revision
from conduct_desk.web.app import create_app
from conduct_desk.web.middleware import HEADERS

TOKEN = "a-metrics-token-for-the-tests"


def with_metrics(app: App, token: str = TOKEN) -> FastAPI:
    app.settings = app.settings.model_copy(update={"metrics_token": SecretStr(token)})
    return create_app(app)


def scrape(web: FastAPI) -> str:
    r = TestClient(web).get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return r.text


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` of an exposition (labels in any order); 0 when absent."""
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if found == labels:
            return float(m.group(3))
    return 0.0


def security_headers_on(r: Response) -> None:
    for name, content in HEADERS:
        assert r.headers[name.decode()] == content.decode()


def test_healthz_says_alive_without_a_session_or_cookie(web: FastAPI) -> None:
    client = TestClient(web)
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    # probed every few seconds by each load balancer: never rate limited
    assert {client.get(p).status_code for _ in range(120) for p in ("/healthz", "/readyz")} \
        == {200}
    assert "set-cookie" not in r.headers
    security_headers_on(r)


def test_readyz_names_the_revision_and_the_listeners(app: App, web: FastAPI) -> None:
    r = TestClient(web).get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["database"] == {"reachable": True, "revision": head_revision(),
                                "head": head_revision()}
    assert body["listeners"] == [] and body["leases"] == []
    assert "set-cookie" not in r.headers
    security_headers_on(r)


def test_readyz_is_503_when_the_schema_is_behind(app: App, web: FastAPI, engine: sa.Engine
                                                 ) -> None:
    head = head_revision()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0010'"))
    try:
        r = TestClient(web).get("/readyz")
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :h"), {"h": head})
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready" and body["database"]["revision"] == "0010"
    assert any("conduct db upgrade" in p for p in body["problems"])
    security_headers_on(r)


def test_a_replica_not_yet_upgraded_keeps_serving_a_newer_schema(
        app: App, web: FastAPI, engine: sa.Engine) -> None:
    """A rolling upgrade: the new release migrated the database (a revision this code does
    not know); the replicas still on the old code stay ready and say why they should go."""
    head = head_revision()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))
    try:
        r = TestClient(web).get("/readyz")
        check_migrated(engine)  # a replica restarting on the old code still starts
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :h"), {"h": head})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "ready" and body["database"]["revision"] == "0999"
    assert any("newer than this code" in n for n in body["notes"])


def test_readyz_is_503_on_an_empty_database(app: App, web: FastAPI, tmp_path: Path) -> None:
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    served = app.engine
    app.engine = empty  # the desk's database swapped under the running app
    try:
        r = TestClient(web).get("/readyz")
    finally:
        app.engine = served
        empty.dispose()
    assert r.status_code == 503
    assert r.json()["database"]["revision"] is None
    assert "no tables yet" in r.json()["problems"][0]
    assert TestClient(web).get("/healthz").status_code == 200  # alive all the same


def test_metrics_are_not_served_without_a_token(web: FastAPI) -> None:
    r = TestClient(web).get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 404
    assert "conduct_" not in r.text
    security_headers_on(r)


def test_metrics_want_the_right_token(app: App, web: FastAPI) -> None:
    desk = with_metrics(app)
    client = TestClient(desk)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        r = client.get("/metrics", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer" and "conduct_" not in r.text
        security_headers_on(r)
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and "set-cookie" not in r.headers
    security_headers_on(r)


def test_the_token_can_come_from_a_file(app: App, web: FastAPI, tmp_path: Path) -> None:
    path = tmp_path / "metrics-token"
    path.write_text(f"{TOKEN}\n")
    app.settings = app.settings.model_copy(update={"metrics_token_file": path})
    r = TestClient(create_app(app)).get("/metrics",
                                        headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200


def test_metrics_follow_the_cases(app: App, web: FastAPI, sandbox: SandboxPlatform) -> None:
    clock = app.desk.clock
    assert isinstance(clock, FakeClock)
    desk = with_metrics(app)
    text = scrape(desk)
    assert value(text, "conduct_cases_open", state="new") == 0
    assert value(text, "conduct_time_to_take_seconds_count") == 0
    assert value(text, "conduct_timer_lag_seconds") == 0

    first = file_case(app, message_id="m1")
    clock.advance(timedelta(minutes=10))
    text = scrape(desk)
    assert value(text, "conduct_cases_open", state="new") == 1
    assert value(text, "conduct_oldest_untaken_case_age_seconds") == 600
    assert value(text, "conduct_deadlines_overdue") == 0

    app.bus.handle(commands.TakeCase(first, "ana"))
    file_case(app, subject="kim", message_id="m2")
    clock.advance(timedelta(minutes=25))
    sandbox.fail_next("post_reply", "Slack answered not_in_channel — invite the bot")
    app.bus.handle(commands.TakeStep(first, "remind", "ana", reason="a first reminder"))
    text = scrape(desk)
    assert value(text, "conduct_cases_open", state="new") == 1
    assert value(text, "conduct_cases_open", state="taken") \
        + value(text, "conduct_cases_open", state="acting") == 1
    assert value(text, "conduct_oldest_untaken_case_age_seconds") == 25 * 60
    # taken after 10 minutes; first step after 35
    assert value(text, "conduct_time_to_take_seconds_count") == 1
    assert value(text, "conduct_time_to_take_seconds_sum") == 600
    assert value(text, "conduct_time_to_take_seconds_bucket", le="300") == 0
    assert value(text, "conduct_time_to_take_seconds_bucket", le="900") == 1
    assert value(text, "conduct_time_to_take_seconds_bucket", le="+Inf") == 1
    assert value(text, "conduct_time_to_first_step_seconds_count") == 1
    assert value(text, "conduct_time_to_first_step_seconds_bucket", le="1800") == 0
    assert value(text, "conduct_time_to_first_step_seconds_bucket", le="3600") == 1
    assert value(text, "conduct_steps", rung="remind", status="failed") == 1
    assert value(text, "conduct_platform_failures", platform="sandbox",
                 error="not_in_channel") == 1

    clock.advance(timedelta(days=7))  # the second case's deadline to be taken has passed
    text = scrape(desk)
    assert value(text, "conduct_deadlines_overdue") == 1
    assert value(text, "conduct_timer_lag_seconds") > 0
    assert value(text, "conduct_oldest_untaken_case_age_seconds") == 25 * 60 + 7 * 86400
    for family in ("conduct_notices_waiting", "conduct_notices_failed"):
        assert re.search(rf"^{family} \d+$", text, re.M), family


def test_metrics_name_no_one(app: App, web: FastAPI, sandbox: SandboxPlatform) -> None:
    desk = with_metrics(app)
    subject, reporter, hurt = "U0SUBJECTZED", "U0REPORTERZED", "U0HURTZED"
    case_id = file_case(app, subject=f"sandbox:{subject}", reporter=f"sandbox:{reporter}",
                        hurt=(f"sandbox:{hurt}",), message_id="m-zed", note="Zebediah said so")
    app.bus.handle(commands.TakeCase(case_id, "ana"))
    sandbox.fail_next("post_reply", f"could not reach {subject} in #zed-room")
    app.bus.handle(commands.TakeStep(case_id, "remind", "ana", reason="Zebediah's reason"))
    text = scrape(desk)
    assert value(text, "conduct_platform_failures", platform="sandbox", error="unreachable") == 1
    for secret in (subject, reporter, hurt, "Zebediah", "zed", "ana", "writing code", "#general"):
        assert secret.lower() not in text.lower(), secret


def test_error_codes_are_short_and_plain() -> None:
    assert error_code("remove: Slack answered not_in_channel — invite the bot") \
        == "not_in_channel"
    assert error_code("Synapse said M_FORBIDDEN: not allowed") == "M_FORBIDDEN"
    assert error_code("Discord is rate limiting the bot (HTTP 429)") == "rate_limited"
    assert error_code("remove: could not reach Slack (ConnectError)") == "unreachable"
    assert error_code("warn: ReadTimeout") == "timeout"
    assert error_code("the platform refused @jo:example.org") == "other"
    assert error_code(None) == "other"
