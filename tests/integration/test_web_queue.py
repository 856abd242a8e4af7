"""The queue that scales (issue 11, items 3 and 4): filters, search, taking a case from its row,
resolving several at once, grouping by person; over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support.web import csrf_of, for_people
from typer.testing import CliRunner

from conduct_desk import cli
from conduct_desk.bootstrap import App
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import repository


def _file(app: App, subject: str, words: str, *, reporter: str | None = "kim",
          flagrant: bool = False, anonymous: bool = False, hurt: str | None = None) -> int:
    filed = app.bus.handle(commands.FileReport(
        subject=PersonRef.parse(subject), reporter=PersonRef.parse(reporter) if reporter else None,
        source=Source.CLI, channel="#general", message_id=f"m-{subject}-{words[:12]}",
        account=words, flagrant=flagrant, anonymous=anonymous,
        harmed=(PersonRef.parse(hurt),) if hurt else ()))
    return int(filed.case_id)


def shown(page: str) -> list[int]:
    """The cases a queue page lists, in its order."""
    return [int(n) for n in re.findall(r'href="/cases/(\d+)" class="case-link"', page)]


@pytest.fixture
def desk(app: App, clock: FakeClock, web: FastAPI) -> dict[str, int]:
    """Six cases: an old one nobody took (overdue), a flagrant one, ana's, mo's, one on
    another platform, and a resolved one."""
    app.desk.platforms["other"] = SandboxPlatform(name="other")
    ids = {"old": _file(app, "sam", "they mocked my accent in the standup")}
    clock.advance(timedelta(hours=3))  # past the guide's two hours to take a case
    ids["flagrant"] = _file(app, "sam", "a threat of violence", flagrant=True)
    ids["ana"] = _file(app, "kit", "a slur about my religion")
    ids["mo"] = _file(app, "lou", "jokes about my accent again")
    ids["other"] = _file(app, "other:zed", "spam in every channel")
    ids["done"] = _file(app, "lou", "an old quarrel, settled")
    app.bus.handle(commands.TakeCase(ids["ana"], "ana"))
    app.bus.handle(commands.TakeCase(ids["mo"], "mo"))
    app.bus.handle(commands.ResolveCase(ids["done"], "ana", "no-action", "they made up"))
    return ids


def test_each_filter_and_their_combinations(desk: dict[str, int],
                                            clients: dict[str, TestClient]) -> None:
    ana = clients["ana"]
    d = desk
    # untaken first (their deadline to be taken is nearer than the taken ones' first step)
    assert shown(ana.get("/queue").text) == [d["flagrant"], d["old"], d["other"], d["ana"], d["mo"]]
    cases = {
        "state=taken": [d["ana"], d["mo"]],
        "state=resolved": [d["done"]],
        "state=all": [d["flagrant"], d["old"], d["other"], d["ana"], d["mo"], d["done"]],
        "mine=1": [d["ana"]],
        "unassigned=1": [d["flagrant"], d["old"], d["other"]],
        "flagrant=1": [d["flagrant"]],
        "overdue=1": [d["old"]],
        "platform=other": [d["other"]],
        "platform=sandbox&unassigned=1": [d["flagrant"], d["old"]],
        "unassigned=1&overdue=1": [d["old"]],
        "mine=1&unassigned=1": [],
        "state=all&platform=sandbox&q=lou": [d["mo"], d["done"]],
    }
    for query, want in cases.items():
        page = ana.get(f"/queue?{query}")
        assert page.status_code == 200, query
        assert shown(page.text) == want, query
        assert "Showing only" in page.text and 'id="clear-filters"' in page.text, query
    page = ana.get("/queue?unassigned=1&overdue=1").text
    assert "nobody has taken" in page and "overdue" in page
    # each active filter has a link that removes it alone
    assert 'href="/queue?overdue=1">remove' in page and 'href="/queue?unassigned=1">remove' in page
    assert "Overdue</strong>" in page and "was due" in page  # in words, not colour alone
    assert "then those where someone was hurt, then the nearest deadline" in page
    # the pager keeps the filters
    assert 'name="back" value="/queue?unassigned=1&amp;overdue=1"' in page
    # a value the page does not offer: said in words, the rest still works
    odd = ana.get("/queue?state=lost&platform=nowhere&flagrant=1").text
    assert "choose one from the State list" in odd and "choose one from the Platform list" in odd
    assert shown(odd) == [d["flagrant"]]
    assert "No case matches these filters" in ana.get("/queue?mine=1&unassigned=1").text


def test_the_appeals_filter_still_works_with_the_others(app: App, desk: dict[str, int],
                                                        clients: dict[str, TestClient]) -> None:
    app.bus.handle(commands.TakeStep(desk["mo"], "warn", "mo", reason="harsh"))
    app.bus.handle(commands.Appeal(desk["mo"], PersonRef.parse("lou"), "I was quoting a film."))
    ana = clients["ana"]
    assert shown(ana.get("/queue?appeals=1").text) == [desk["mo"]]
    assert shown(ana.get("/queue?appeals=1&mine=1").text) == []
    assert shown(ana.get("/queue?appeals=1&platform=other").text) == []
    assert shown(ana.get("/queue?appeals=1&q=lou").text) == [desk["mo"]]


def test_search_by_case_number_person_and_words(desk: dict[str, int],
                                                clients: dict[str, TestClient]) -> None:
    ana, d = clients["ana"], desk
    for q in (str(d["mo"]), f"%23{d['mo']}", f"+%23{d['mo']}+"):
        assert shown(ana.get(f"/queue?q={q}").text) == [d["mo"]], q
    assert shown(ana.get(f"/queue?q={d['done']}").text) == []  # resolved: not in "open"
    assert shown(ana.get(f"/queue?q={d['done']}&state=all").text) == [d["done"]]
    assert shown(ana.get("/queue?q=sam").text) == [d["flagrant"], d["old"]]
    assert shown(ana.get("/queue?q=sandbox%3ASAM").text) == [d["flagrant"], d["old"]]
    assert shown(ana.get("/queue?q=other%3Azed").text) == [d["other"]]
    assert shown(ana.get("/queue?q=accent").text) == [d["old"], d["mo"]]
    assert shown(ana.get("/queue?q=Accent+standup").text) == [d["old"]]
    assert shown(ana.get("/queue?q=accent&mine=1").text) == []
    assert shown(ana.get("/queue?q=religion&mine=1").text) == [d["ana"]]
    assert shown(ana.get("/queue?q=nothing+like+this").text) == []
    assert shown(ana.get("/queue?q=100%25").text) == []  # LIKE's wildcards are plain text
    assert 'value="accent"' in ana.get("/queue?q=accent").text  # the box keeps the search


def test_a_search_across_resolved_cases_says_when_it_read_only_the_first_matches(
        app: App, web: FastAPI, clients: dict[str, TestClient],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A word in very many reports: the open cases are all searched; across resolved cases
    only the first reports found are read, and the page says so (a bounded read at any size)."""
    monkeypatch.setattr(repository, "SEARCH_MOST", 3)
    cases = [_file(app, f"p{i}", f"shouting in thread {i}") for i in range(5)]
    for case_id in cases[:4]:
        app.bus.handle(commands.ResolveCase(case_id, "ana", "no-action", "talked it through"))
    ana = clients["ana"]
    wide = ana.get("/queue?q=shouting&state=all").text
    assert "more than 3 reports" in wide
    # the open case, and the cases of the first 3 reports found
    assert cases[4] in shown(wide) and len(shown(wide)) <= 4 and set(shown(wide)) <= set(cases)
    open_only = ana.get("/queue?q=shouting").text
    assert shown(open_only) == [cases[4]] and "more than 3 reports" not in open_only
    narrow = ana.get("/queue?q=shouting+thread+2&state=all").text
    assert shown(narrow) == [cases[2]] and "more than 3 reports" not in narrow
    assert shown(ana.get("/queue?q=p3&state=all").text) == [cases[3]]  # a person: not capped
    # the API says so too, in its own field
    raw = accounts.create_token(app.uow(), app.desk.clock, "t-ana", None, account="ana")
    api = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    wide_api = api.get("/api/v1/cases?q=shouting&state=all").json()
    assert wide_api["searched_most"] == 3 and 1 <= len(wide_api["cases"]) <= 4
    assert "searched_most" not in api.get("/api/v1/cases?q=shouting").json()
    # and the command line, after its list
    monkeypatch.setattr(cli, "_app", lambda: app)
    listed = CliRunner().invoke(cli.app, ["case", "list", "--state", "all", "--search", "shouting"])
    assert listed.exit_code == 0 and "more than 3 reports" in listed.output, listed.output
    listed = CliRunner().invoke(cli.app, ["case", "list", "--state", "all", "--search",
                                          "shouting", "--json"])
    assert listed.exit_code == 0 and "more than 3 reports" in listed.stderr
    assert 1 <= len(json.loads(listed.stdout)) <= 4
    listed = CliRunner().invoke(cli.app, ["case", "list", "--search", "shouting"])
    assert listed.output.startswith(f"#{cases[4]} ") and "more than" not in listed.output


def test_a_capped_search_across_every_state_still_finds_every_open_case(
        app: App, clients: dict[str, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """The page promises that open cases are always searched in full: with state=all and
    more matching reports than are read, an open case whose report comes last is listed."""
    monkeypatch.setattr(repository, "SEARCH_MOST", 3)
    cases = [_file(app, f"p{i}", f"shouting in thread {i}") for i in range(5)]
    for case_id in cases[:4]:  # the open one's report is filed (and found) last
        app.bus.handle(commands.ResolveCase(case_id, "ana", "no-action", "talked it through"))
    wide = clients["ana"].get("/queue?q=shouting&state=all").text
    assert "more than 3 reports" in wide
    assert shown(wide)[:1] == [cases[4]]  # open cases first, as always


def test_a_search_among_many_open_cases_finds_each_however_many_reports_hold_it(
        app: App, clients: dict[str, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """More open cases than are asked one by one: a word in few reports is looked up by its
    reports, a word in many by asking each open case; both find every open case holding it."""
    monkeypatch.setattr(repository, "SEARCH_MOST", 3)
    cases = [_file(app, f"p{i}", f"{'shouting' if i % 2 else 'quiet'} in thread {i}")
             for i in range(7)]
    ana = clients["ana"]
    assert sorted(shown(ana.get("/queue?q=thread+5").text)) == [cases[5]]
    assert sorted(shown(ana.get("/queue?q=shouting").text)) == [cases[1], cases[3], cases[5]]
    assert sorted(shown(ana.get("/queue?q=quiet").text)) == [cases[0], cases[2], cases[4],
                                                             cases[6]]
    assert "more than 3 reports" not in ana.get("/queue?q=quiet").text


def test_search_never_shows_an_admin_a_case_about_them_or_one_they_are_in(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    about_jo = _file(app, "jo", "rude to the newcomers")  # jo-admin is sandbox:jo
    reported = _file(app, "ned", "rude in review", reporter="jo")
    hidden = _file(app, "pat", "rude in chat", reporter="jo", anonymous=True)
    hurt = _file(app, "ray", "rude in the forum", reporter="kim", hurt="jo")
    app.bus.handle(commands.ConfirmHurt(hurt, "ana", "sandbox:jo"))
    jo, ana = clients["jo-admin"], clients["ana"]
    for q in ("rude", "jo", str(about_jo), "sandbox%3Ajo"):
        assert about_jo not in shown(jo.get(f"/queue?q={q}").text), q
    assert shown(jo.get("/queue?q=rude").text) == []
    assert shown(ana.get("/queue?q=rude").text) == [about_jo, reported, hidden, hurt]
    assert shown(jo.get(f"/queue?q={hidden}").text) == []


def _post(client: TestClient, path: str, data: dict[str, object]) -> object:
    return client.post(path, data={"csrf": csrf_of(client.get("/queue").text), **data})


def test_take_from_the_queue(desk: dict[str, int], clients: dict[str, TestClient]) -> None:
    ana, d = clients["ana"], desk
    page = ana.get("/queue?unassigned=1").text
    assert f'action="/queue/cases/{d["old"]}/take"' in page
    assert f'action="/queue/cases/{d["mo"]}/take"' not in page  # taken rows say by whom
    r = ana.post(f"/queue/cases/{d['old']}/take", data={
        "csrf": csrf_of(page), "back": "/queue?unassigned=1"})
    assert r.status_code == 303 and r.headers["location"] == f"/queue?unassigned=1&taken={d['old']}"
    after = ana.get(r.headers["location"]).text
    assert f"Case {d['old']} is yours now" in after and d["old"] not in shown(after)
    # taken already: said in web words on the queue, nothing changes
    again = ana.post(f"/queue/cases/{d['mo']}/take", data={"csrf": csrf_of(page),
                                                           "back": "https://evil.example/"})
    assert again.status_code == 409 or again.status_code == 400
    assert f"Case {d['mo']} was not taken" in again.text and "already taken by mo" in again.text
    assert "conduct " not in again.text and "--" not in for_people(again.text)
    # no CSRF token: refused
    assert ana.post(f"/queue/cases/{d['flagrant']}/take", data={}).status_code == 403
    # an observer sees no take button and may not take
    obs = clients["obs"]
    assert "/take" not in obs.get("/queue").text and 'id="bulk"' not in obs.get("/queue").text
    assert obs.post(f"/queue/cases/{d['flagrant']}/take",
                    data={"csrf": csrf_of(obs.get("/queue").text)}).status_code == 403


def test_bulk_resolve_reports_the_cases_it_could_not(app: App, desk: dict[str, int],
                                                     clients: dict[str, TestClient],
                                                     sandbox: SandboxPlatform) -> None:
    mo, d = clients["mo"], desk  # a moderator: may not resolve ana's case
    told = len(sandbox.calls)
    r = _post(mo, "/queue/resolve", {"cases": [d["old"], d["ana"], d["mo"], d["done"]],
                                     "outcome": "duplicate", "reason": "same as case 1",
                                     "back": "/queue?state=all"})
    assert r.status_code == 200  # type: ignore[attr-defined]
    text = r.text  # type: ignore[attr-defined]
    assert re.search(rf'Resolved: <a href="/cases/{d["old"]}">case {d["old"]}</a>, '
                     rf'<a href="/cases/{d["mo"]}">case {d["mo"]}</a>', text)
    assert f"Case {d['ana']}</a>: case {d['ana']} is ana&#39;s" in text
    assert f"Case {d['done']}</a>: case {d['done']} is already resolved" in text
    with app.uow() as uow:
        for key in ("old", "mo"):
            case = uow.cases.get(d[key])
            assert case.outcome == "duplicate" and case.outcome_reason == "same as case 1"
        assert uow.cases.get(d["ana"]).is_open
        audit = uow.audit.entries(case_id=d["old"])
    assert any(e.kind == "case.resolved" for e in audit)
    # the reporter of each resolved case is told, as one by one
    assert any(c.method == "send_dm" and str(d["old"]) in (c.text or "")
               for c in sandbox.calls[told:])
    # nothing ticked, no outcome, no reason: said at the field, nothing recorded
    for data, says in (({"outcome": "no-action", "reason": "x"}, "Tick the cases"),
                       ({"cases": [d["flagrant"]], "outcome": "apologized", "reason": "x"},
                        "Choose how the cases ended"),
                       ({"cases": [d["flagrant"]], "outcome": "no-action"}, "Write the reason")):
        r = _post(clients["ana"], "/queue/resolve", data)
        assert r.status_code == 422 and says in r.text  # type: ignore[attr-defined]
    with app.uow() as uow:
        assert uow.cases.get(d["flagrant"]).is_open


def test_bulk_resolve_by_a_recused_admin_or_an_observer(app: App, desk: dict[str, int],
                                                       clients: dict[str, TestClient]) -> None:
    mine = _file(app, "jo", "rude to the newcomers")  # about jo-admin
    r = _post(clients["jo-admin"], "/queue/resolve", {"cases": [mine], "outcome": "no-action",
                                                      "reason": "fine"})
    assert r.status_code == 403 and "must step aside" in r.text  # type: ignore[attr-defined]
    obs = clients["obs"]
    r = obs.post("/queue/resolve", data={"csrf": csrf_of(obs.get("/queue").text),
                                         "cases": [desk["old"]], "outcome": "no-action",
                                         "reason": "fine"})
    assert r.status_code == 403
    with app.uow() as uow:
        assert uow.cases.get(mine).is_open and uow.cases.get(desk["old"]).is_open


def test_group_by_person(desk: dict[str, int], clients: dict[str, TestClient]) -> None:
    page = clients["ana"].get("/queue?group=person").text
    heads = re.findall(r'<h2 id="person-\d+">([^<]+) <small>', page)
    assert heads == ["sandbox:sam", "other:zed", "sandbox:kit", "sandbox:lou"]
    assert shown(page) == [desk["flagrant"], desk["old"], desk["other"], desk["ana"], desk["mo"]]
    assert 'href="/people/sandbox%3Asam">Their page' in page
    # the filters keep the grouping, and clearing them too
    filtered = clients["ana"].get("/queue?group=person&unassigned=1").text
    assert 'href="/queue?group=person" id="clear-filters"' in filtered


def test_the_api_lists_through_the_same_filters(app: App, desk: dict[str, int],
                                                web: FastAPI) -> None:
    raw = accounts.create_token(app.uow(), app.desk.clock, "t-ana", None, account="ana")
    api = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    d = desk

    def ids(query: str) -> list[int]:
        r = api.get(f"/api/v1/cases?{query}")
        assert r.status_code == 200, (query, r.text)
        return [c["id"] for c in r.json()["cases"]]

    assert ids("mine=true") == [d["ana"]]
    assert ids("unassigned=true&overdue=true") == [d["old"]]
    assert ids("flagrant=true") == [d["flagrant"]]
    assert ids("platform=other") == [d["other"]]
    assert ids("q=accent") == [d["old"], d["mo"]]
    assert ids(f"q=%23{d['done']}&state=all") == [d["done"]]
    assert ids("q=kit&state=taken") == [d["ana"]]
    assert api.get("/api/v1/cases?state=lost").status_code == 422


def waiting_in(page: str) -> int:
    """The header's count of cases nobody has taken yet."""
    found = re.search(r'id="waiting"[^>]*>Not yet taken: <strong>(\d+)</strong>', page)
    assert found, "no count of untaken cases in the header"
    return int(found.group(1))


def test_the_header_counts_the_untaken_cases_the_reader_may_see(
        app: App, desk: dict[str, int], clients: dict[str, TestClient]) -> None:
    """The queue counts its total and the header's number in one read; every page agrees,
    and a case about the reader is in neither."""
    _file(app, "jo", "rude to the newcomers")  # about jo-admin (sandbox:jo)
    ana, jo = clients["ana"], clients["jo-admin"]
    for path in ("/queue", "/queue?page=2", "/queue?group=person", "/queue?appeals=1",
                 "/queue?unassigned=1", "/settings", f"/cases/{desk['old']}"):
        # untaken: the old one, the flagrant one, the other platform's, and the one about jo
        assert waiting_in(ana.get(path).text) == 4, path
        assert waiting_in(jo.get(path).text) == 3, path
    assert "1 to 6 of 6" in ana.get("/queue").text  # ana, mo's and the three untaken + jo's
    assert "1 to 5 of 5" in jo.get("/queue").text
    app.bus.handle(commands.TakeCase(desk["old"], "ana"))
    assert waiting_in(jo.get("/queue").text) == 2 == waiting_in(jo.get("/settings").text)
    assert waiting_in(jo.get(f"/cases/{desk['old']}").text) == 2


def test_a_case_about_an_admins_linked_account_is_not_in_their_queue(
        app: App, desk: dict[str, int], clients: dict[str, TestClient]) -> None:
    """An admin's linked accounts are theirs (issue 12): the case page refuses them a case
    about one, so the queue neither lists nor counts it, searched or not."""
    app.bus.handle(commands.LinkAccounts(("web:ana", "other:ana-alt"), "riley"))
    about_alt = _file(app, "other:ana-alt", "rude in the forum")
    ana, riley = clients["ana"], clients["riley"]
    assert about_alt in shown(riley.get("/queue").text)
    for path in ("/queue", "/queue?unassigned=1", "/queue?platform=other", "/queue?q=rude",
                 f"/queue?q={about_alt}"):
        assert about_alt not in shown(ana.get(path).text), path
    assert ana.get(f"/cases/{about_alt}").status_code == 403
    assert waiting_in(riley.get("/queue").text) == 4
    assert waiting_in(ana.get("/queue").text) == 3 == waiting_in(ana.get("/settings").text)
