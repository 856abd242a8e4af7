"""``conduct demo``: one story through every rung of the guide's ladder, told as it happens.

It runs on a throwaway SQLite database with the sandbox platform and a clock the demo moves
itself, so a day-long suspension passes in an instant and nothing leaves this machine.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings, preset_text
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import parse_policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands, views
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage.db import create_engine, upgrade

SUBJECT = PersonRef("sandbox", "sam")
REPORTER = PersonRef("sandbox", "riley")
HURT = PersonRef("sandbox", "jo")
ADMIN = "ana"


def run_demo(say: Callable[[str], None], pause: float = 0.0) -> None:
    with tempfile.TemporaryDirectory(prefix="conduct-demo-") as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'demo.db'}")
        upgrade(engine)
        clock = FakeClock()
        sandbox = SandboxPlatform()
        policy = parse_policy(preset_text("guide"), "preset guide")
        app = bootstrap(Settings(database_url="sqlite://"), engine=engine, policy=policy,
                        clock=clock, platforms={"sandbox": sandbox})
        # the desk acts only for admins it knows: ana gets an account (no one signs in with it)
        accounts.add_admin(app.uow(), clock, ADMIN, "admin", secrets.token_urlsafe(24))
        try:
            _story(app, clock, sandbox, say, pause)
        finally:
            engine.dispose()


def _story(app: App, clock: FakeClock, sandbox: SandboxPlatform, say: Callable[[str], None],
           pause: float) -> None:
    seen = 0

    def show_platform() -> None:
        nonlocal seen
        for call in sandbox.calls[seen:]:
            if call.method == "fetch_message":
                continue
            where = {"post_reply": f"reply in {call.channel}",
                     "send_dm": f"private message to {call.person}",
                     "notify_admins": "admins' channel"}.get(call.method)
            if where and call.text:
                say(f"    [{where}]")
                say("\n".join(f"      | {line}" for line in call.text.splitlines()))
            else:
                say(f"    [platform] {call.method} {call.person or ''} {call.channel or ''}".rstrip())
        seen = len(sandbox.calls)

    def scene(title: str) -> None:
        if pause:
            time.sleep(pause)
        say("")
        say(f"== {clock.now():%a %H:%M}  {title}")

    def recommended(case_id: int) -> str:
        detail = views.case_detail(app.uow(), app.desk, case_id)
        assert detail.recommendation is not None
        say(f"    the desk recommends: {detail.recommendation.rung.name} "
            f"({detail.recommendation.reason})")
        return detail.recommendation.rung.name

    def step(case_id: int, rung: str, **kw: str) -> None:
        step_id = app.bus.handle(commands.TakeStep(case_id, rung, ADMIN, **kw))
        s = views.case_detail(app.uow(), app.desk, case_id).case.step(step_id)
        say(f"    {ADMIN} takes '{rung}': {s.status}")
        show_platform()

    say("Conduct Desk demo: one case, every rung of the guide's ladder.")
    say("Throwaway database, sandbox platform, and a clock the demo moves itself.")

    scene("sam posts in #general; riley reports it (jo was hurt too)")
    sandbox.add_message("#general", "m1", "People like you shouldn't be writing code.", SUBJECT)
    filed = app.bus.handle(commands.FileReport(
        subject=SUBJECT, reporter=REPORTER, source=Source.CLI, channel="#general",
        message_id="m1", harmed=(HURT,)))
    cid = filed.case_id
    say(f"    case {cid} opened; no reason was asked of riley")
    show_platform()

    scene("ana takes the case")
    app.bus.handle(commands.TakeCase(cid, ADMIN))
    step(cid, recommended(cid))

    clock.advance(timedelta(minutes=20))
    scene("sam argues on; ana suggests another way to say it")
    step(cid, recommended(cid), suggestion="please talk about the code, not about the people "
         "writing it — or take the debate to #offtopic.")

    clock.advance(timedelta(minutes=30))
    scene("it goes on; ana removes sam from #general")
    step(cid, recommended(cid))

    clock.advance(timedelta(hours=1))
    scene("sam carries it into other channels; ana warns by private message")
    step(cid, recommended(cid))
    app.bus.handle(commands.ConfirmReread(cid, SUBJECT))
    say("    sam confirms having re-read the Code of Conduct")

    clock.advance(timedelta(days=2))
    scene("two days later it starts again; ana suspends sam for 24 hours")
    step(cid, recommended(cid), duration="24h")

    clock.advance(timedelta(hours=24, minutes=1))
    scene("a day later the worker ends the suspension on its own")
    ran = app.bus.handle(commands.RunDueTimers(worker="demo"))
    say(f"    worker ran {ran} due timer(s)")
    show_platform()

    clock.advance(timedelta(days=1))
    scene("sam returns to the same behaviour; before a ban, ana talks with jo")
    rung = recommended(cid)
    try:
        app.bus.handle(commands.TakeStep(cid, rung, ADMIN))
    except Exception as exc:  # the policy asks for a consultation first: show it
        say(f"    the desk refuses for now: {exc}")
    app.bus.handle(commands.Consult(cid, ADMIN, "Jo feels unsafe in the channels while sam is "
                                    "here and supports a ban.", HURT))
    say("    consultation with jo recorded")
    step(cid, rung)

    scene("ana resolves the case; riley hears how it ended")
    app.bus.handle(commands.ResolveCase(cid, ADMIN, "steps-taken"))
    show_platform()

    scene(f"the timeline of case {cid}")
    detail = views.case_detail(app.uow(), app.desk, cid)
    for e in detail.timeline:
        say(f"    {e.at:%a %H:%M}  {e.actor:<14} {e.summary}")
    say("")
    say("Try it yourself: `conduct db upgrade`, then `conduct report --help`.")
