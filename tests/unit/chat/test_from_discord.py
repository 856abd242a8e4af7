"""The Discord card and windows drawn from a real case (the chat layer's read models): what
the admins' channel shows, what it leaves out when the person can read it, and the buttons."""

from __future__ import annotations

import json

from conduct_desk.bootstrap import App
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.discord import components as ui
from conduct_desk.service import commands, views

SUBJECT = PersonRef("discord", "222222222222222222")
REPORTER = PersonRef("discord", "333333333333333333")
HURT = PersonRef("discord", "444444444444444444")


def _detail(app: App) -> views.CaseDetail:
    app.bus.handle(commands.FileReport(
        subject=SUBJECT, reporter=REPORTER, source=Source.DISCORD, channel="555555555555555555",
        message_id="666666666666666666", message_text="people like you can't code",
        message_link="https://discord.com/channels/1/555555555555555555/666666666666666666",
        harmed=(HURT,), note="it keeps happening"))
    with app.uow() as uow:
        (case_id,) = uow.cases.case_ids_for(SUBJECT)
    return views.case_detail(app.uow(), app.desk, case_id)


def test_the_card_names_reporters_only_when_the_person_cannot_read_it(app: App) -> None:
    detail = _detail(app)
    shown = json.dumps(ui.case_card(detail, app.desk.policy), ensure_ascii=False)
    assert REPORTER.user_id in shown and HURT.user_id in shown and "it keeps happening" in shown
    assert "> people like you can't code" in shown and "<#555555555555555555>" in shown
    hidden = ui.case_card(detail, app.desk.policy, names_hidden=True)
    said = json.dumps(hidden, ensure_ascii=False)
    assert REPORTER.user_id not in said and HURT.user_id not in said
    assert "it keeps happening" not in said
    assert "Hurt: 2 (names left out here)" in said
    assert hidden["embeds"][0]["footer"]["text"].startswith("🔒 The person can read this channel")
    assert hidden["allowed_mentions"] == {"parse": []}  # a card pings nobody


def test_the_card_buttons_take_and_open_each_step(app: App) -> None:
    detail = _detail(app)
    rows = ui.card_buttons(detail, app.desk.policy)
    ids = [b["custom_id"] for row in rows for b in row["components"]]
    case_id = detail.case.id
    assert ids[0] == f"case:take:{case_id}"
    assert ids[1:] == [f"case:step:{case_id}:{r.name}" for r in app.desk.policy.ladder]
    assert all(len(row["components"]) <= 5 for row in rows) and len(rows) <= 5
    assert all(ui.pressed(i) is not None for i in ids)


def test_the_step_window_holds_the_exact_text_and_asks_why_off_the_recommendation() -> None:
    modal = ui.step_modal(12, "suspend", "Hi, a pause of 24 hours.", recommended="warn",
                          duration="24h")
    fields = {c["component"]["custom_id"]: c["component"] for c in modal["components"]
              if c["type"] == 18}
    assert fields["text"]["value"] == "Hi, a pause of 24 hours." and fields["text"]["required"]
    assert fields["duration"]["value"] == "24h"
    assert fields["reason"]["required"] is True
    assert modal["custom_id"] == "step:12:suspend:24h"  # the duration the text says
    same = ui.step_modal(12, "warn", "text", recommended="warn", duration=None)
    assert "duration" not in json.dumps(same)
    assert not [c for c in same["components"] if c["type"] == 18][-1]["component"]["required"]


def test_the_report_window_asks_nothing_that_is_required() -> None:
    modal = ui.report_modal("1", "2", "3", "a day")
    assert modal["custom_id"] == "report:1:2:3"
    inputs = [c["component"] for c in modal["components"] if c["type"] == 18]
    assert {i["custom_id"] for i in inputs} == {"note", "harmed", "options"}
    assert not any(i.get("required") for i in inputs)
