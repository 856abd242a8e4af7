"""What filing a report tells the reporter and the admins, and what it records."""

from __future__ import annotations

from conduct_desk.bootstrap import App
from conduct_desk.domain.model import SaidFrom, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import commands as c

SAM, RILEY, JO = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley"), PersonRef("sandbox", "jo")


def test_a_new_case_thanks_the_reporter_and_tells_the_admins(app: App, sandbox: SandboxPlatform) -> None:
    filed = app.bus.handle(c.FileReport(subject=SAM, reporter=RILEY, source=Source.CLI, channel="#general",
                                        message_id="m1", message_text="hostile", said_from=SaidFrom.PASTED, harmed=(JO,), flagrant=True))
    assert [call.method for call in sandbox.calls] == ["send_dm", "notify_admins"]
    thanks, notice = sandbox.calls
    assert thanks.person == RILEY and f"{filed.case_id}" in (thanks.text or "")
    assert notice.text == (f"New case {filed.case_id} about sandbox:sam — reported as flagrant; "
                           "2 people hurt. Please take it.")
    with app.uow() as uow:
        kinds = [e.kind for e in uow.audit.entries(case_id=filed.case_id)]
    assert kinds == ["report.filed"]  # all went through: nothing more to record


def test_messages_that_cannot_go_through_are_recorded(app: App, sandbox: SandboxPlatform) -> None:
    # refused for good (a refusal the platform may lift later is kept and retried: test_notices)
    sandbox.fail_next("send_dm", "user has DMs closed", retryable=False)
    sandbox.fail_next("notify_admins", "channel archived", retryable=False)
    filed = app.bus.handle(c.FileReport(subject=SAM, reporter=RILEY, source=Source.CLI))
    with app.uow() as uow:
        entries = uow.audit.entries(case_id=filed.case_id)
    assert [(e.kind, e.detail.get("detail")) for e in entries[1:]] == [
        ("notice.failed", "user has DMs closed"),
        ("notice.failed", "channel archived"),
    ]
    assert entries[1].summary == ("the thanks to sandbox:riley could not be delivered; "
                                  "please reach them another way")
    assert entries[2].summary == "the message to the admins on Sandbox could not be delivered"


def test_joining_a_case_thanks_the_reporter_only(app: App, sandbox: SandboxPlatform) -> None:
    first = app.bus.handle(c.FileReport(subject=SAM, reporter=RILEY, source=Source.CLI, channel="#general",
                                        message_id="m1", message_text="hostile", said_from=SaidFrom.PASTED))
    sandbox.calls.clear()
    again = app.bus.handle(c.FileReport(subject=SAM, reporter=JO, source=Source.CLI, channel="#general",
                                        message_id="m1", message_text="hostile", said_from=SaidFrom.PASTED))
    assert again.case_id == first.case_id and not again.opened_case
    assert [(call.method, call.person) for call in sandbox.calls] == [("send_dm", JO)]


def test_an_anonymous_report_is_not_thanked_but_the_admins_hear(app: App, sandbox: SandboxPlatform) -> None:
    filed = app.bus.handle(c.FileReport(subject=SAM, reporter=None, source=Source.WEB))
    assert [call.method for call in sandbox.calls] == ["notify_admins"]
    assert sandbox.calls[0].text == (f"New case {filed.case_id} about sandbox:sam. "
                                     "Please take it.")
