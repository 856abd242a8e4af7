"""Retention and erasure (issue 12, item 5): texts go on time and not before; a person's data
is exported and erased, and what was erased is gone from every table and every page while
the facts safety needs stay, the ladder still knows a banned person who comes back, and the
audit log still verifies. On SQLite, and on PostgreSQL with CONDUCT_TEST_POSTGRES."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from conduct_desk.bootstrap import App
from conduct_desk.cli import worker_loop
from conduct_desk.domain.errors import IllegalTransition, NotFound
from conduct_desk.domain.model import SaidFrom, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import accounts, commands
from conduct_desk.service.audit import verify_log
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.privacy import erase_person, export_person
from conduct_desk.storage.privacy import PEOPLE, TEXTS, text_columns

SAM = PersonRef("sandbox", "U0SAMERASED")  # the subject, banned, then erased
RILEY = PersonRef("sandbox", "U0RILEYREP")  # reports sam by name
ANON = PersonRef("sandbox", "U0ANONREP")  # reports sam anonymously
LEE = PersonRef("sandbox", "U0LEEOTHER")  # reported by sam
JO = PersonRef("sandbox", "U0JOHURT")  # hurt by sam
SAMS_WORDS = "Zorbulate your rubbish code, SAMSAID"
SAMS_NOTE = "lee was rude to me, SAMNOTE"


def _file(app: App, subject: PersonRef, reporter: PersonRef | None, message_id: str, *,
          said: str | None = None, note: str | None = None, account: str | None = None,
          anonymous: bool = False, harmed: tuple[PersonRef, ...] = (),
          flagrant: bool = False) -> int:
    filed = app.bus.handle(commands.FileReport(
        subject=subject, reporter=reporter, source=Source.CLI, anonymous=anonymous,
        channel="#general", message_id=message_id, message_text=said,
        said_from=SaidFrom.PASTED if said else None, note=note, account=account,
        harmed=harmed, flagrant=flagrant))
    return int(filed.case_id)


def _story(app: App, clock: FakeClock) -> tuple[int, int]:
    """Case one: sam said something hurtful, riley and an anonymous member reported it, jo
    was hurt and consulted; sam was banned and the case resolved. Case two: sam reported lee,
    still open."""
    one = _file(app, SAM, RILEY, "m1", said=SAMS_WORDS, note="RILEYNOTE it hurt jo",
                account="RILEYACCOUNT they said it twice", harmed=(JO,), flagrant=True)
    _file(app, SAM, ANON, "m1", anonymous=True, note="ANONNOTE me too", harmed=(JO,))
    app.bus.handle(commands.TakeCase(one, "ana"))
    app.bus.handle(commands.Consult(one, "ana", "CONSULTNOTE jo asks for a ban", JO))
    app.bus.handle(commands.TakeStep(one, "ban", "ana", reason="STEPREASON flagrant slur"))
    clock.advance(timedelta(minutes=10))
    app.bus.handle(commands.ResolveCase(one, "ana", "steps-taken", reason="OUTCOMEREASON done"))
    two = _file(app, LEE, SAM, "m2", said="lee's words LEESAID", note=SAMS_NOTE)
    return one, two


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def _api(app: App, web: FastAPI) -> TestClient:
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin")
    return TestClient(web, headers={"Authorization": f"Bearer {raw}"})


def _everywhere(engine: Engine, needle: str) -> list[str]:
    """Every table.column (text, string or JSON) holding ``needle``, in any row."""
    hits = []
    with engine.connect() as conn:
        for table, col in text_columns():
            for value in conn.execute(sa.select(col).where(col.is_not(None))).scalars():
                if needle.lower() in json.dumps(value, ensure_ascii=False).lower():
                    hits.append(f"{table.name}.{col.name}")
                    break
    return hits


def _pages(api: TestClient, clients: dict[str, TestClient], visitor: TestClient,
           cases: list[int], tokens: list[str]) -> str:
    ana = clients["ana"]
    pages = [ana.get("/queue").text, ana.get("/audit").text, api.get("/api/v1/cases").text,
             api.get("/api/v1/audit").text]
    for case_id in cases:
        pages += [ana.get(f"/cases/{case_id}").text, api.get(f"/api/v1/cases/{case_id}").text]
    pages += [visitor.get(f"/r/{token}").text for token in tokens]
    return "\n".join(pages)


def test_export_then_erase_a_banned_subject_who_also_reported(
        app: App, web: FastAPI, clients: dict[str, TestClient], visitor: TestClient,
        engine: Engine, clock: FakeClock) -> None:
    one, two = _story(app, clock)
    app.bus.handle(commands.ResolveCase(two, "ana", "no-action", reason="not a breach"))
    with app.uow() as uow:
        riley_token = uow.cases.get(one).reports[0].status_token
    assert riley_token is not None

    exported = export_person(app.uow(), app.desk, SAM, "ana")
    assert [c["id"] for c in exported["cases_about_them"]] == [one]
    assert exported["cases_about_them"][0]["reports"][0]["words_said"] == SAMS_WORDS
    assert any(s["action"] == "ban" for s in exported["cases_about_them"][0]["steps"])
    assert [r["note"] for r in exported["reports_they_made"]] == [SAMS_NOTE]
    flat = json.dumps(exported)
    for reporter_trace in (RILEY.user_id, ANON.user_id, "RILEYNOTE", "RILEYACCOUNT", "ANONNOTE"):
        assert reporter_trace not in flat  # never who reported them, nor what they wrote
    # what they did anonymously is theirs, but the admin exporting must not learn it: it is
    # in the export only for a copy that goes to the person themselves (audited as such)
    with pytest.raises(NotFound, match="holds nothing about"):
        export_person(app.uow(), app.desk, ANON, "ana")
    anon = export_person(app.uow(), app.desk, ANON, "ana", anonymous_too=True)
    assert [r["note"] for r in anon["reports_they_made"]] == ["ANONNOTE me too"]
    assert anon["reports_they_made"][0]["anonymous"] is True
    assert "status_token" not in anon["reports_they_made"][0]  # their status link stays theirs
    with app.uow() as uow:
        said = [e.summary for e in uow.audit.entries() if e.kind == "person.exported"]
    assert said[-1].endswith("anonymous reports included, for the person themselves")

    erased = erase_person(app.uow(), app.desk, SAM, "ana")
    lines = "\n".join(erased.lines())
    assert f"in case {one} (safety" in lines and "a ban (ban," in lines
    assert "1 report(s) they made" in lines
    assert "report texts" in lines and "audit entries redacted" in lines

    # gone from every table ...
    for trace in (SAM.user_id, "SAMSAID", "SAMNOTE", "Zorbulate", "STEPREASON",
                  "OUTCOMEREASON", "CONSULTNOTE", "RILEYNOTE", "RILEYACCOUNT", "ANONNOTE"):
        assert _everywhere(engine, trace) == [], trace
    # ... and from every page
    api = _api(app, web)
    page = _pages(api, clients, visitor, [one, two], [riley_token])
    for trace in (SAM.user_id, "SAMSAID", "SAMNOTE", "Zorbulate", "STEPREASON"):
        assert trace not in page, trace
    assert "[removed: erased at the person&#39;s request]" in page or \
        "[removed: erased at the person's request]" in page
    assert "SAMNOTE" not in clients["ana"].get(f"/people/{LEE.key}").text

    # what safety needs stays: the ban, its rung and date, the outcome, the counts
    with app.uow() as uow:
        case = uow.cases.get(one)
        other = uow.cases.get(two)
    assert case.subject == erased.pseudonym and case.subject.user_id.startswith("erased:")
    assert [(s.rung, s.action.value) for s in case.steps if s.counts] == [("ban", "ban")]
    assert str(case.outcome) == "steps-taken" and len(case.reports) == 2
    assert case.reports[0].reporter == RILEY  # riley's report of sam is riley's, kept
    assert JO in case.harmed and len(case.harmed) == 3  # the hurt: jo and the reporters
    # lee's case, which sam reported, is whole but for sam's name and words
    assert other.subject == LEE and other.reports[0].reporter is None
    assert other.reports[0].words_said == "lee's words LEESAID"

    # the audit log still verifies; the erasure is in it, without the id
    result = verify_log(app.uow())
    assert result.ok, result.faults
    assert result.redacted > 0
    with app.uow() as uow:
        entries = uow.audit.entries(limit=10_000)
    last = next(e for e in reversed(entries) if e.kind == "person.erased")
    assert "kept: a ban" in last.summary and last.detail["pseudonym"] == erased.pseudonym.key

    # sam comes back under the same id: the ladder still knows the ban
    back = _file(app, SAM, LEE, "m3", said="hello again", flagrant=True)
    ana = clients["ana"]
    assert f"Already banned (in case {one})" in _text(ana.get(f"/cases/{back}").text)
    assert api.get(f"/api/v1/cases/{back}").json()["recommendation"] is None
    assert "banned" in _text(ana.get(f"/people/{SAM.key}").text)
    # and the erased case cannot be reopened onto the pseudonym
    with pytest.raises(IllegalTransition, match="was erased"):
        app.bus.handle(commands.ReopenCase(one, "ana"))


def test_erasing_a_reporter_keeps_the_case_they_reported(
        app: App, web: FastAPI, engine: Engine, clock: FakeClock) -> None:
    one, _ = _story(app, clock)
    erased = erase_person(app.uow(), app.desk, ANON, "ana")
    assert "1 report(s) they made" in "\n".join(erased.lines())
    with app.uow() as uow:
        case = uow.cases.get(one)
    assert case.subject == SAM and len(case.reports) == 2
    assert case.reports[0].note == "RILEYNOTE it hurt jo"  # another reporter's words stay
    assert case.reports[1].reporter is None and case.reports[1].status_token is None
    assert case.reports[1].note == "[removed: erased at the person's request]"
    assert _everywhere(engine, "ANONNOTE") == []
    assert verify_log(app.uow()).ok


def test_a_person_the_desk_does_not_know_and_an_open_case(app: App, web: FastAPI,
                                                          clock: FakeClock) -> None:
    with pytest.raises(NotFound, match=r"^the desk holds nothing about sandbox:nobody; check"):
        export_person(app.uow(), app.desk, PersonRef("sandbox", "nobody"), "ana")
    with pytest.raises(NotFound, match="holds nothing"):
        erase_person(app.uow(), app.desk, PersonRef("sandbox", "nobody"), "ana")
    _, two = _story(app, clock)
    with pytest.raises(IllegalTransition, match=f"case {two} about {LEE} is open; resolve it"):
        erase_person(app.uow(), app.desk, LEE, "ana")
    with app.uow() as uow:
        assert uow.cases.get(two).reports[0].note == SAMS_NOTE  # nothing half-done


def _texts(app: App, case_id: int) -> tuple[str | None, str | None, str]:
    with app.uow() as uow:
        case = uow.cases.get(case_id)
    return case.reports[0].note, case.consultations[0].summary, case.steps[0].text


def test_the_retention_sweep_removes_texts_on_time_and_not_before(
        app: App, web: FastAPI, clock: FakeClock) -> None:
    one, _ = _story(app, clock)  # resolved now
    sweep = commands.ApplyRetention()
    clock.advance(timedelta(days=179))
    assert app.bus.handle(sweep).removed == 0
    note, summary, step_text = _texts(app, one)
    assert note == "RILEYNOTE it hurt jo" and summary == "CONSULTNOTE jo asks for a ban"

    clock.advance(timedelta(days=2))  # 181 days: report texts and messages (180d) go
    assert app.bus.handle(sweep).removed > 0
    note, summary, step_text = _texts(app, one)
    assert note == "[removed after 180 days (retention policy)]"
    assert step_text == "[removed after 180 days (retention policy)]"
    assert summary == "CONSULTNOTE jo asks for a ban"  # notes are kept 365 days
    with app.uow() as uow:
        case = uow.cases.get(one)
    assert case.reports[0].words_said is None  # nothing left to quote
    assert [s.action.value for s in case.steps if s.counts] == ["ban"]  # the ban stays
    assert app.bus.handle(sweep).removed == 0  # done once

    clock.advance(timedelta(days=185))  # 366 days: the notes go too
    app.bus.handle(sweep)
    _, summary, _ = _texts(app, one)
    assert summary == "[removed after 365 days (retention policy)]"
    with app.uow() as uow:
        logged = [e for e in uow.audit.entries(case_id=one) if e.kind == "retention.removed"]
    assert len(logged) == 2 and "report texts" in logged[0].summary
    assert not any("RILEYNOTE" in e.summary or "CONSULTNOTE" in e.summary for e in logged)
    assert verify_log(app.uow()).ok


def test_a_case_reopened_in_time_keeps_its_texts(app: App, web: FastAPI,
                                                  clock: FakeClock) -> None:
    one, _ = _story(app, clock)
    clock.advance(timedelta(days=100))
    app.bus.handle(commands.ReopenCase(one, "ana"))
    clock.advance(timedelta(days=100))  # 200 days after the first resolution, open
    assert app.bus.handle(commands.ApplyRetention()).removed == 0
    app.bus.handle(commands.ResolveCase(one, "ana", "steps-taken"))
    clock.advance(timedelta(days=179))  # the span starts again
    app.bus.handle(commands.ApplyRetention())
    assert _texts(app, one)[0] == "RILEYNOTE it hurt jo"
    clock.advance(timedelta(days=2))
    app.bus.handle(commands.ApplyRetention())
    assert _texts(app, one)[0] == "[removed after 180 days (retention policy)]"


def test_the_worker_sweeps_when_it_starts(app: App, web: FastAPI, clock: FakeClock) -> None:
    one, _ = _story(app, clock)
    clock.advance(timedelta(days=181))
    worker_loop(app, "w1", threading.Event(), batch=10, interval=0.05, once=True)
    assert _texts(app, one)[0] == "[removed after 180 days (retention policy)]"


# Columns that hold words or names but are handled by erasure on their own (the case's
# subject, the audit log's redaction, the lists of the hurt) or hold nothing a person wrote
# or is named by (states, kinds, hashes, admins' names, the desk's own secrets and state).
HANDLED_OR_NOT_PERSONAL = {
    "cases": {"subject_platform", "subject_id", "channel", "message_id", "state", "taken_by",
              "outcome", "subject_token", "last_step"},
    "reports": {"subject_platform", "subject_id", "source", "channel", "message_id",
                "message_link", "harmed", "status_token", "said_from"},
    "nudges": {"source", "channel", "message_id", "message_link", "state", "answer", "harmed"},
    "notes": {"kind", "by"}, "steps": {"rung", "action", "actor", "status", "recommended"},
    "consultations": {"admin"}, "notices": {"platform", "kind", "purpose", "reply_to", "status"},
    "audit": {"actor", "kind", "summary", "detail"}, "timers": {"kind", "status", "claimed_by"},
    "admins": {"name", "role", "password_hash", "identities", "email", "email_kinds",
               "time_zone"},
    "account_invites": {"kind", "role", "token_hash", "name", "created_by", "used_by"},
    "api_tokens": {"name", "role", "token_hash"}, "web_sessions": {"id_hash"},
    "audit_checkpoints": {"gaps", "frontier"}, "cursors": {"name", "value"},
    "leases": {"name", "holder"}, "rate_hits": {"scope", "key_hash"},
    "web_secrets": {"name", "value"},
    "messages": {"party", "direction", "by"},  # by: an admin's name, or "reporter"/"subject"
    "people": {"created_by"}, "person_links": {"linked_by"}, "link_codes": {"code_hash"},
    "step_effects": {"action", "target", "status"},
}


def test_every_column_of_words_or_names_is_known_to_retention_and_erasure() -> None:
    """A new table or column that can hold words or names must be placed: in TEXTS (removed
    on time and on erasure), in PEOPLE (found, exported, erased with the person), or above."""
    known = {(s.table.name, s.column) for s in TEXTS} | {
        (p.table.name, c) for p in PEOPLE for c in (p.platform, p.user_id, p.sealed) if c}
    known |= {(table, col) for table, cols in HANDLED_OR_NOT_PERSONAL.items() for col in cols}
    unplaced = [f"{table.name}.{col.name}" for table, col in text_columns()
                if (table.name, col.name) not in known]
    assert unplaced == []


def _resolved_notes(app: App, count: int) -> list[int]:
    """``count`` cases about lee, each with a note from riley, resolved now."""
    ids = []
    for n in range(count):
        case_id = _file(app, LEE, RILEY, f"w{n}", note=f"WINDOWNOTE {n}")
        app.bus.handle(commands.ResolveCase(case_id, "ana", "no-action", reason="not a breach"))
        ids.append(case_id)
    return ids


def _notes_of(app: App, ids: list[int]) -> list[str | None]:
    with app.uow() as uow:
        return [uow.cases.get(i).reports[0].note for i in ids]


def test_a_long_sweep_goes_a_window_at_a_time_and_keeps_what_it_did(
        app: App, web: FastAPI, clock: FakeClock) -> None:
    """A sweep over a long backlog is many short transactions: what one window removed
    stays removed when the process stops before the next (a restart never undoes it)."""
    ids = _resolved_notes(app, 5)
    clock.advance(timedelta(days=181))
    first = app.bus.handle(commands.ApplyRetention(cases=2))
    assert first.removed > 0 and first.after == ids[1]
    gone = "[removed after 180 days (retention policy)]"
    assert _notes_of(app, ids) == [gone, gone, "WINDOWNOTE 2", "WINDOWNOTE 3", "WINDOWNOTE 4"]
    # the process stops here; the next sweep starts over and finds only what is left
    again = app.bus.handle(commands.ApplyRetention(cases=2))
    assert again.removed == 0 and again.after == ids[1]
    more = app.bus.handle(commands.ApplyRetention(after=again.after, cases=2))
    assert more.removed == first.removed and more.after == ids[3]
    rest = app.bus.handle(commands.ApplyRetention(after=more.after, cases=2))
    assert rest.removed == first.removed // 2 and rest.after == ids[4]
    assert app.bus.handle(commands.ApplyRetention(after=rest.after or 0, cases=2)).after is None
    assert _notes_of(app, ids) == [gone] * 5
    with app.uow() as uow:
        logged = [e.case_id for e in uow.audit.entries() if e.kind == "retention.removed"]
    assert logged == ids  # one entry per case, none twice
    assert verify_log(app.uow()).ok


def test_the_worker_runs_due_timers_between_the_windows_of_a_sweep(
        app: App, web: FastAPI, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _resolved_notes(app, 4)
    clock.advance(timedelta(days=181))
    waiting = _file(app, SAM, RILEY, "due")  # its deadline to take it is due at once
    clock.advance(timedelta(days=1))
    monkeypatch.setattr("conduct_desk.service.privacy.RETENTION_WINDOW", 1)
    worker_loop(app, "w1", threading.Event(), batch=10, interval=0.05, once=True)
    assert _notes_of(app, ids) == ["[removed after 180 days (retention policy)]"] * 4
    with app.uow() as uow:
        kinds = [(e.kind, e.case_id) for e in uow.audit.entries()
                 if e.kind == "retention.removed" or e.case_id == waiting]
    swept = [i for i, (kind, _) in enumerate(kinds) if kind == "retention.removed"]
    timers = [i for i, (kind, case_id) in enumerate(kinds)
              if case_id == waiting and kind != "report.filed"]
    assert len(swept) == 4 and timers, kinds
    assert timers[0] < swept[-1]  # the deadline did not wait for the whole sweep
