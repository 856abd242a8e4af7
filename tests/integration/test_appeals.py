"""Appeals end to end: the queue's appeals, the deadline, the decision and what it undoes,
through the bus, the API and the web forms (SQLite, and PostgreSQL when asked)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import count_rows
from tests.support.accounts import add_admins
from tests.support.web import csrf_of, file_case, for_people

from conduct_desk.bootstrap import App
from conduct_desk.domain import events
from conduct_desk.domain.errors import InvalidInput, Recused
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, views
from conduct_desk.service import commands as c
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.ports import CaseFilter
from conduct_desk.storage import tables

SAM = PersonRef("sandbox", "sam")


@pytest.fixture(autouse=True)
def _admins(app: App) -> None:
    add_admins(app, "ana", "bo")


def _stepped(app: App, *rungs: str, by: str = "ana", **kw: Any) -> int:
    """A case about sam with the ``rungs`` taken by ``by``, then appealed by sam."""
    case_id = file_case(app)
    for rung in rungs:
        if rung == "ban":
            app.bus.handle(c.Consult(case_id, by, "jo asks for it", PersonRef("sandbox", "jo")))
        app.bus.handle(c.TakeStep(case_id, rung, by, reason="as the case needs",
                                  **(kw if rung == "suspend" else {})))
    app.bus.handle(c.Appeal(case_id, SAM, "I was quoting a film."))
    return case_id


def _dms(sandbox: SandboxPlatform) -> list[str]:
    return [call.text or "" for call in sandbox.calls
            if call.method == "send_dm" and call.person == SAM]


def test_an_appeal_comes_back_to_the_queue_and_hooks_can_see_it(app: App) -> None:
    seen: list[events.AppealFiled] = []
    app.bus.subscribe(events.AppealFiled, lambda e, uow: seen.append(e))
    case_id = _stepped(app, "remind")
    app.bus.handle(c.ResolveCase(case_id, "ana", "steps-taken"))
    other = file_case(app, subject="kim")
    now = app.desk.clock.now()
    open_ids = [i.summary.id for i in views.queue(app.uow(), now)]
    assert case_id not in open_ids and other in open_ids
    appeals = views.queue(app.uow(), now, CaseFilter(appeals=True))
    assert [i.summary.id for i in appeals] == [case_id]
    assert appeals[0].summary.appeal_due_at is not None  # the case is resolved, still listed
    assert len(seen) == 1 and seen[0].case_id == case_id and seen[0].rung == "remind"
    assert seen[0].due_at == appeals[0].summary.appeal_due_at
    app.bus.handle(c.DecideAppeal(case_id, "bo", "upheld"))
    assert views.queue(app.uow(), now, CaseFilter(appeals=True)) == []


def test_the_author_of_the_step_is_refused_and_another_admin_overturns(
        app: App, sandbox: SandboxPlatform) -> None:
    case_id = _stepped(app, "remind", "suspend", duration="24h")
    assert SAM in sandbox.suspended
    with pytest.raises(Recused, match="ana took the step under appeal .suspend."):
        app.bus.handle(c.DecideAppeal(case_id, "ana", "overturned"))
    assert app.bus.handle(c.DecideAppeal(case_id, "bo", "overturned")) == "overturned"
    assert SAM not in sandbox.suspended  # undone through the restore path
    d = views.case_detail(app.uow(), app.desk, case_id)
    suspension = d.case.steps[1]
    assert suspension.overturned_at is not None and suspension.restored_at is not None
    assert d.case.steps[-1].action.value == "restore"
    assert d.recommendation is not None and d.recommendation.rung.name == "suggest"
    assert not d.case.appeal_pending
    told = _dms(sandbox)[-1]
    assert "set it aside" in told and "undone" in told and "Welcome back" not in told
    kinds = [e.kind for e in d.timeline]
    assert "appeal.decided" in kinds and "subject.appealed" in kinds
    with app.uow() as uow:  # the suspension's own end is not run again
        assert not [t for t in uow.timers.pending(case_id) if t.kind.value == "suspension-ends"]


def test_overturning_a_ban_lifts_it_on_the_platform(app: App, sandbox: SandboxPlatform) -> None:
    case_id = _stepped(app, "ban")
    assert SAM in sandbox.banned
    app.bus.handle(c.DecideAppeal(case_id, "bo", "overturned"))
    assert SAM not in sandbox.banned
    assert [call.method for call in sandbox.calls][-2:] == ["unban", "send_dm"]
    with app.uow() as uow:
        assert [p for p in uow.cases.history(SAM) if p.action.value != "restore"] == []


def test_a_ban_changed_to_a_suspension(app: App, sandbox: SandboxPlatform,
                                      clock: FakeClock) -> None:
    case_id = _stepped(app, "ban")
    with pytest.raises(InvalidInput, match="needs --to") as err:
        app.bus.handle(c.DecideAppeal(case_id, "bo", "changed"))
    assert err.value.field == "to"
    with pytest.raises(InvalidInput, match="not a step below"):
        app.bus.handle(c.DecideAppeal(case_id, "bo", "changed", to="ban"))
    app.bus.handle(c.DecideAppeal(case_id, "bo", "changed", to="suspend", duration="12h"))
    assert SAM not in sandbox.banned and SAM in sandbox.suspended
    methods = [call.method for call in sandbox.calls]
    assert methods.index("unban") < len(methods) - 1 - methods[::-1].index("suspend")
    told = _dms(sandbox)[-1]
    assert "replaced it with a suspension" in told and "until" in told
    timeline = views.case_detail(app.uow(), app.desk, case_id).timeline
    assert any(e.kind == "step.recorded" and "replacing the ban on appeal" in e.summary
               for e in timeline)
    with app.uow() as uow:
        assert [p.rung for p in uow.cases.history(SAM) if p.action.value != "restore"] \
            == ["suspend"]
        case = uow.cases.get(case_id)
    replaced = [s for s in case.steps if s.rung == "suspend"]
    assert len(replaced) == 1 and replaced[0].status.value == "done" and replaced[0].counts
    assert _dms(sandbox).count(told) == 1  # the suspension's own message is the decision
    clock.advance(timedelta(hours=13))  # the new suspension ends by itself
    app.bus.handle(c.RunDueTimers("w"))
    assert SAM not in sandbox.suspended


def test_the_appeal_deadline_reminds_the_admins_on_duty(app: App, sandbox: SandboxPlatform,
                                                        clock: FakeClock) -> None:
    case_id = _stepped(app, "warn")
    clock.advance(timedelta(days=6, hours=23))
    app.bus.handle(c.RunDueTimers("w"))
    reminders = [call for call in sandbox.calls if call.method == "notify_admins"
                 and "has waited" in (call.text or "")]
    assert reminders == []
    clock.advance(timedelta(hours=2))
    app.bus.handle(c.RunDueTimers("w"))
    reminders = [call for call in sandbox.calls if call.method == "notify_admins"
                 and "has waited" in (call.text or "")]
    assert len(reminders) == 1
    assert f"The appeal in case {case_id} has waited 169 hours" in (reminders[0].text or "")
    kinds = [e.kind for e in views.case_detail(app.uow(), app.desk, case_id).timeline]
    assert "deadline.appeal" in kinds


def test_a_decided_appeal_is_not_reminded(app: App, sandbox: SandboxPlatform,
                                          clock: FakeClock) -> None:
    case_id = _stepped(app, "warn")
    app.bus.handle(c.DecideAppeal(case_id, "bo", "upheld"))
    clock.advance(timedelta(days=8))
    app.bus.handle(c.RunDueTimers("w"))
    assert not [call for call in sandbox.calls if "has waited" in (call.text or "")]


# -- through HTTP -------------------------------------------------------------------------------


@pytest.fixture
def api(app: App, web: FastAPI) -> dict[str, TestClient]:
    out = {}
    for name, role in (("reader", "observer"), ("mod", "moderator"), ("boss", "admin"),
                       ("judge", "admin")):
        raw = accounts.create_token(app.uow(), app.desk.clock, name, role)
        out[name] = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    return out


def test_the_api_lists_previews_and_decides_appeals(app: App, api: dict[str, TestClient],
                                                   sandbox: SandboxPlatform) -> None:
    boss, judge = api["boss"], api["judge"]
    file_case(app)
    assert boss.post("/api/v1/cases/1/steps", json={"step": "remind"}).status_code == 201
    assert boss.post("/api/v1/cases/1/steps", json={"step": "remove", "reason": "again"}
                     ).status_code == 201
    assert boss.get("/api/v1/cases?appeals=true").json()["cases"] == []
    app.bus.handle(c.Appeal(1, SAM, "please look again"))
    listed = boss.get("/api/v1/cases?appeals=true").json()["cases"]
    assert [x["id"] for x in listed] == [1] and listed[0]["appeal_due_at"]
    case = boss.get("/api/v1/cases/1").json()
    assert case["appeal"]["waiting"] and case["appeal"]["step"] == "remove"
    assert case["appeal"]["step_by"] == "token:boss"
    r = boss.post("/api/v1/cases/1/appeal/decide", json={"decision": "overturned"})
    assert r.status_code == 403 and "took the step under appeal" in r.json()["error"]["message"]
    r = api["reader"].post("/api/v1/cases/1/appeal/decide", json={"decision": "upheld"})
    assert r.status_code == 403
    preview = judge.get("/api/v1/cases/1/appeal/preview?decision=overturned").json()
    assert preview["undone"] and "set it aside" in preview["text"]
    r = judge.get("/api/v1/cases/1/appeal/preview?decision=maybe")
    assert r.status_code == 422 and "upheld, overturned, changed" in r.text
    r = judge.post("/api/v1/cases/1/appeal/decide", json={"decision": "overturned"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["appeal"]["waiting"]
    assert body["appeal"]["decisions"][0]["decision"] == "overturned"
    assert body["appeal"]["decisions"][0]["by"] == "token:judge"
    removal = next(s for s in body["steps"] if s["rung"] == "remove")
    assert removal["overturned_at"] and removal["restored_at"]
    assert "readmit" in [call.method for call in sandbox.calls]
    assert body["recommendation"]["step"] == "suggest"
    r = judge.post("/api/v1/cases/1/appeal/decide", json={"decision": "upheld"})
    assert r.status_code == 409 and "no appeal waiting" in r.text
    assert any(e["kind"] == "appeal.decided" for e in body["timeline"])
    docs = TestClient(judge.app).get("/api/v1/docs").text
    assert "/api/v1/cases/{case_id}/appeal/decide" in docs
    assert "/api/v1/cases/{case_id}/appeal/preview" in docs


def test_a_moderator_does_not_decide_an_appeal_against_a_ban(app: App,
                                                             api: dict[str, TestClient]) -> None:
    case_id = _stepped(app, "ban")
    r = api["mod"].post(f"/api/v1/cases/{case_id}/appeal/decide", json={"decision": "overturned"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert "admin role" in r.json()["error"]["message"]
    # nor is the message it would send shown to them as if they could
    r = api["mod"].get(f"/api/v1/cases/{case_id}/appeal/preview?decision=overturned")
    assert r.status_code == 403 and "admin role" in r.json()["error"]["message"]


def _appeal_form(page: str) -> str:
    return page.split('id="appeal"', 1)[1].split("</section>", 1)[0]


def test_the_queue_filter_and_the_decision_form(app: App, engine: object,
                                                clients: dict[str, TestClient],
                                                sandbox: SandboxPlatform) -> None:
    case_id = _stepped(app, "remind", "warn", by="ana")
    ana, mo, obs = clients["ana"], clients["mo"], clients["obs"]
    queue = mo.get("/queue").text
    assert 'href="/queue?appeals=1"' in queue and "appeal waiting" in queue
    filtered = mo.get("/queue?appeals=1").text
    assert "Queue: appeals" in filtered and f'href="/cases/{case_id}"' in filtered
    assert "decide by" in filtered
    # the admin who took the step sees the appeal, and no form
    own = _appeal_form(ana.get(f"/cases/{case_id}").text)
    assert "I was quoting a film." in own and "another admin decides the appeal" in own
    assert 'action="/cases/1/appeal"' not in own
    csrf = csrf_of(ana.get(f"/cases/{case_id}").text)
    r = ana.post(f"/cases/{case_id}/appeal", data={"csrf": csrf, "decision": "upheld",
                                                   "text": "x", "original": "x"})
    assert r.status_code == 403
    assert re.search(r'class="error" role="alert">you took the step under appeal \(warn\), so '
                     r'another admin decides the appeal<', r.text)
    # an observer reads it and cannot decide
    assert "a moderator or admin decides it" in _appeal_form(obs.get(f"/cases/{case_id}").text)
    r = obs.post(f"/cases/{case_id}/appeal", data={"csrf": csrf_of(obs.get("/queue").text),
                                                   "decision": "upheld"})
    assert r.status_code == 403
    # mistakes point at the field, in the page's words
    page = mo.get(f"/cases/{case_id}").text
    csrf = csrf_of(page)
    before = count_rows(engine, tables.notes)  # type: ignore[arg-type]
    r = mo.post(f"/cases/{case_id}/appeal", data={"csrf": csrf, "decision": ""})
    assert r.status_code == 422
    assert re.search(r'id="decision-error">choose a decision[^<]*\(change the Decision choice\)',
                     r.text)
    r = mo.get(f"/cases/{case_id}?decision=changed")
    form = _appeal_form(r.text)
    assert 'id="to-error"' in form and "the “Replace it with” list" in form
    assert "--" not in for_people(form)  # no command-line words on the page
    assert count_rows(engine, tables.notes) == before  # type: ignore[arg-type]
    # preview, then decide: the message shown is what the person gets
    form = _appeal_form(mo.get(f"/cases/{case_id}?decision=changed&to=remind").text)
    text = re.search(r'id="appeal-text"[^>]*>([^<]*)</textarea>', form)
    assert text is not None and "replaced it with a reminder" in text.group(1)
    r = mo.post(f"/cases/{case_id}/appeal", data={
        "csrf": csrf, "decision": "changed", "to": "remind", "original": text.group(1),
        "text": text.group(1) + " Take care."})
    assert r.status_code == 303 and r.headers["location"].endswith("done=appeal-decided#appeal")
    assert _dms(sandbox)[-1].endswith("Take care.")
    r = mo.post(f"/cases/{case_id}/appeal", data={"csrf": csrf, "decision": "upheld"})
    assert r.status_code == 409 and "has no appeal waiting" in r.text  # sent twice
    page = mo.get(f"/cases/{case_id}").text
    assert "Appeal changed by mo" in page and "set aside on appeal" in page
    assert 'id="appeal-title"' not in page
    assert f'href="/cases/{case_id}"' not in mo.get("/queue?appeals=1").text
    # the person's page shows the decision
    with app.uow() as uow:
        token = uow.cases.get(case_id).subject_token
    subject_page = TestClient(clients["mo"].app).get(f"/s/{token}").text
    assert "Your appeal was changed" in subject_page and "Take care." in subject_page
