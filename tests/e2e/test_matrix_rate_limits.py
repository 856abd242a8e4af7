"""A whole ladder story with the bot under Synapse's stock rate limits (issue 9).

Synapse lets an ordinary account send a burst of 10 events, then one every 5 seconds
(``rc_message``; joins and new rooms count too). The people in these tests and the server
admin are the harness's own and are exempt (``override_ratelimit``), so only the bot is held
to the limit, and a busy management room is enough to make it meet ``M_LIMIT_EXCEEDED``.

Two things are checked:

* every notice arrives in the end: the reporter's acknowledgement and outcome, an answer to
  each command typed in the management room, the new-case notice, the case card in its final
  state, the reminder in the room and the step messages to the person the case is about;
* none is claimed as sent before it was: whenever the desk's records (step statuses, the
  case's timeline) or its answers say that someone was told, that message is already on the
  homeserver. The claims are read first and the messages after, on every poll, so a claim
  seen with its message missing was made before the message existed.

Synapse counts real seconds, so the desk's clock follows the wall clock here (each poll moves
the FakeClock by the time that really passed, then runs the timers that are due): every wait
the desk computes from ``retry_after_ms`` is a real wait. The policy's first back-off is one
second instead of a minute, so that retries fit in the test's time, with more tries, so that
the doubling waits still span more than the minute Synapse needs to let the story through;
the desk still waits at least as long as Synapse asks.

The harness checks its own fairness: Synapse's access log must show no 429 for the people or
the server admin (a failure then says HARNESS FAULT), and at least one for the bot (else the
story proved nothing about rate limits).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, NoReturn
from urllib.parse import quote

import pytest
from sqlalchemy.engine import Engine
from tests.support.matrix_world import World
from tests.support.polling import wait_for
from tests.support.synapse import MatrixTestClient, SynapseServer
from tests.support.synapse_fixtures import (
    db_url,  # noqa: F401  (Matrix, not storage: SQLite)
    synapse_stock,  # noqa: F401
)

from conduct_desk.bootstrap import App
from conduct_desk.domain.errors import NotFound
from conduct_desk.domain.model import Step, StepStatus
from conduct_desk.domain.policy import Action, Policy, Retry
from conduct_desk.service import commands, views
from conduct_desk.service.clock import FakeClock

#: how long the notices may take to arrive once the last command is typed: the story needs
#: about 22 events from the bot, 12 more than Synapse's burst, so at least a minute
ARRIVAL_TIMEOUT = 90.0

#: words that make a sentence about telling someone a claim that it was done
TOLD = re.compile(r"\b(?:are|were|was|is|have been|has been) (?:told|thanked|informed)\b", re.I)
#: words that make a record about a reporter honest about a message still on its way
NOT_YET = re.compile(r"\b(?:not|fail\w*|will|pending|waiting|later|again|retry\w*|queued)\b",
                     re.I)


def _q(value: str) -> str:
    return quote(value, safe="")


@pytest.fixture
def stock_world(synapse_stock: SynapseServer, engine: Engine) -> Iterator[World]:  # noqa: F811
    """The usual small community, on the homeserver with stock rate limits (only the bot is
    held to them). Asks for ``engine`` so that the bot stops before the database goes."""
    w = World.build(synapse_stock)
    yield w
    w.stop()


def test_the_harness_is_exempt_and_a_limited_account_is_not(
        synapse_stock: SynapseServer) -> None:  # noqa: F811
    """The harness never trips a limit itself, and the limit the bot meets is Synapse's stock
    one: a burst of about 10, then a wait Synapse names (at most 5 seconds for one event)."""
    tag = str(time.monotonic_ns())[-6:]
    person = synapse_stock.client(*synapse_stock.register(f"person-{tag}", "pw"))
    limited = synapse_stock.client(*synapse_stock.register(f"limited-{tag}", "pw",
                                                           rate_limited=True))
    try:
        room = person.create_room(name=f"harness-{tag}", invite=[limited.user_id])
        limited.join(room)  # one of the limited account's 10
        assert all(person.send_text_raw(room, f"exempt {i}").status_code == 200
                   for i in range(25))
        answers = [limited.send_text_raw(room, f"limited {i}") for i in range(12)]
        sent = [a for a in answers if a.status_code == 200]
        refused = [a.json() for a in answers if a.status_code != 200]
        assert 7 <= len(sent) <= 10, [a.status_code for a in answers]
        assert refused and all(r["errcode"] == "M_LIMIT_EXCEEDED" for r in refused), refused
        assert all(0 < r["retry_after_ms"] <= 5_000 for r in refused), refused
        # the access log the story reads its refusals from says the same
        assert len(synapse_stock.rate_limited_requests(limited.user_id)) == len(refused)
        assert synapse_stock.rate_limited_requests(person.user_id) == []
    finally:
        person.close()
        limited.close()


@dataclass(frozen=True)
class Seen:
    """The bot's messages on the homeserver at one moment, oldest first."""

    case_id: int
    bob: list[str]  # in bob's direct rooms with the bot
    cara: list[str]  # in cara's
    lobby: list[str]
    management: list[str]

    def has_step(self, step: Step) -> bool:
        text = step.text.strip()
        where = self.lobby if step.action in (Action.REMIND, Action.SUGGEST) else self.bob
        return any(text in t for t in where)

    def has_ack(self) -> bool:
        return any(t.startswith("Thank you for telling us") and f"(case {self.case_id})" in t
                   for t in self.cara)

    def has_outcome(self) -> bool:
        return any(t.startswith(f"An update on your report (case {self.case_id})")
                   for t in self.cara)


@dataclass
class Watch:
    """Polls the homeserver and the desk; keeps the desk's clock with the wall's and runs
    its due timers; notes every claim of a message that was not there yet."""

    world: World
    app: App
    clock: FakeClock
    case_id: int = 1
    typed: dict[str, str] = field(default_factory=dict)  # command event id -> command
    false_claims: dict[str, str] = field(default_factory=dict)  # claim -> what was missing
    last: float = field(default_factory=time.monotonic)
    _dm_rooms: dict[str, str] = field(default_factory=dict)  # room id -> the other member

    # -- the desk's clock and timers ------------------------------------------------------
    def pump(self) -> None:
        now = time.monotonic()
        self.clock.advance(timedelta(seconds=now - self.last))
        self.last = now
        self.app.bus.handle(commands.RunDueTimers("rate-limit-test"))

    def until(self, probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        """``wait_for`` that pumps the timers and checks the claims on every poll."""
        def step() -> Any:
            self.pump()
            self.check_claims()
            return probe()
        return wait_for(step, what, timeout)

    def type(self, *lines: str) -> None:
        """ana types these in the management room, one right after the other."""
        for line in lines:
            self.typed[self.world.ana.client.send_text(self.world.management, line)] = line

    # -- what the homeserver holds ----------------------------------------------------------
    @property
    def admin(self) -> MatrixTestClient:
        return self.world.server_admin.client

    def dms(self, member_id: str) -> list[str]:
        """The bot's messages in its direct rooms with ``member_id``, oldest first, read with
        the server admin's API: the person need not have joined (a suspended account cannot)."""
        bot = self.world.bot.user_id
        rooms = self.admin.call("GET", f"/_synapse/admin/v1/users/{_q(bot)}/joined_rooms")
        for room_id in rooms["joined_rooms"]:
            if room_id in self._dm_rooms or room_id in (self.world.lobby, self.world.management):
                continue
            state = self.admin.call("GET", f"/_synapse/admin/v1/rooms/{_q(room_id)}/state")
            members = {e["state_key"] for e in state["state"] if e["type"] == "m.room.member"
                       and e["content"].get("membership") in ("join", "invite")}
            if len(members) == 2 and bot in members:
                self._dm_rooms[room_id] = next(iter(members - {bot}))
        texts: list[str] = []
        for room_id, other in sorted(self._dm_rooms.items()):
            if other == member_id:
                chunk = self.admin.call("GET", f"/_synapse/admin/v1/rooms/{_q(room_id)}/messages",
                                        params={"dir": "b", "limit": 100})["chunk"]
                texts += [str(e["content"].get("body", "")) for e in reversed(chunk)
                          if e.get("sender") == bot and e.get("type") == "m.room.message"]
        return texts

    def bot_texts(self, room_id: str) -> list[str]:
        events = self.world.ana.client.messages(room_id, limit=100)
        return [str(e["content"].get("body", "")) for e in reversed(events)
                if e.get("sender") == self.world.bot.user_id and e.get("type") == "m.room.message"]

    def answers(self) -> dict[str, str]:
        """The bot's answer to each typed command, by the command's event id."""
        found: dict[str, str] = {}
        for event in self.world.ana.client.messages(self.world.management, limit=100):
            rel = event.get("content", {}).get("m.relates_to", {})
            replied = rel.get("m.in_reply_to", {}).get("event_id")
            if event.get("sender") == self.world.bot.user_id and replied in self.typed:
                found.setdefault(replied, str(event["content"]["body"]))
        return found

    # -- what the desk holds --------------------------------------------------------------
    def detail(self) -> views.CaseDetail | None:
        try:
            return views.case_detail(self.app.uow(), self.app.desk, self.case_id)
        except NotFound:
            return None

    def steps(self) -> list[Step]:
        detail = self.detail()
        return list(detail.case.steps) if detail else []

    # -- claims -----------------------------------------------------------------------------
    def check_claims(self) -> None:
        """Read what the desk says was sent, then what the homeserver holds."""
        answers = self.answers()
        detail = self.detail()
        if detail is None:
            return
        steps = {s.id: s for s in detail.case.steps}
        claims: list[tuple[str, Callable[[Seen], bool], str]] = []

        def step_claim(step: Step, said: str) -> None:
            claims.append((said, lambda seen: seen.has_step(step), f"{step.rung}'s message"))

        for step in steps.values():  # the desk's records
            if step.action is Action.RESTORE:
                continue
            if step.status is StepStatus.DONE and (step.action in (
                    Action.REMIND, Action.SUGGEST, Action.WARN) or step.notified):
                step_claim(step, f"the desk recorded step {step.id} ({step.rung}) as done"
                                 + (" and its message as sent" if step.notified else ""))
        for event_id, answer in answers.items():  # the answers in the management room
            command = self.typed[event_id]
            if m := re.match(r"Case \d+, step (\d+) \((\w+)\): done", answer):
                step = steps.get(int(m.group(1)))
                if step is not None and (step.action in (Action.REMIND, Action.SUGGEST,
                                                         Action.WARN)
                                         or "message sent first" in answer):
                    step_claim(step, f"the answer to {command!r}: {answer!r}")
            if (told := TOLD.search(answer)) and "reporter" in answer.lower():
                claims.append((f"the answer to {command!r}: {told.group(0)!r} in {answer!r}",
                               Seen.has_outcome, "the reporter's outcome message"))
        for entry in detail.timeline:  # the case's timeline
            said = f"{entry.kind} {entry.summary}".lower()
            if not entry.kind.startswith("reporter.") or NOT_YET.search(said):
                continue
            if "told" in said or "outcome" in said:
                claims.append((f"the timeline: {entry.kind} {entry.summary!r}",
                               Seen.has_outcome, "the reporter's outcome message"))
            elif "thank" in said or "acknowledg" in said:
                claims.append((f"the timeline: {entry.kind} {entry.summary!r}",
                               Seen.has_ack, "the reporter's acknowledgement"))
        claims = [c for c in claims if c[0] not in self.false_claims]
        if not claims:
            return
        seen = self.seen()  # read after the claims: what was missing then was missing before
        for said, delivered, what in claims:
            if not delivered(seen):
                self.false_claims[said] = f"{what} was not on the homeserver yet"

    def seen(self) -> Seen:
        w = self.world
        return Seen(self.case_id, self.dms(w.bob.user_id), self.dms(w.cara.user_id),
                    self.bot_texts(w.lobby), self.bot_texts(w.management))

    # -- every notice, in the end -------------------------------------------------------------
    def missing(self) -> list[str]:
        """The notices not (yet) on the homeserver, and the card not (yet) final."""
        gone: list[str] = []
        seen = self.seen()
        if not seen.has_ack():
            gone.append("cara's acknowledgement (her direct room with the bot)")
        if not seen.has_outcome():
            gone.append("cara's outcome message (her direct room with the bot)")
        if not any(t.startswith(f"New case {self.case_id} about") for t in seen.management):
            gone.append("the new-case notice in the management room")
        answers = self.answers()
        gone += [f"an answer to {command!r} in the management room"
                 for event_id, command in self.typed.items() if event_id not in answers]
        steps = self.steps()
        for step in steps:
            if step.action is not Action.RESTORE and not seen.has_step(step):
                where = "the lobby" if step.action in (Action.REMIND, Action.SUGGEST) \
                    else "bob's direct room"
                gone.append(f"step {step.id} ({step.rung})'s message in {where}")
        card = self.world.card(self.case_id) or ""
        if not card.startswith(f"Case {self.case_id} · resolved"):
            gone.append(f"the card showing the case resolved (it reads {card[:60]!r})")
        for step in steps:
            line = f"· step {step.id} {step.rung}: {step.status}"
            if line not in card:
                gone.append(f"the card's line {line!r}")
        return gone

    def until_all_arrive(self, timeout: float) -> None:
        left: list[str] = []

        def arrived() -> bool:
            left[:] = self.missing()
            return not left

        try:
            self.until(arrived, "every notice", timeout)
        except AssertionError:
            self.fail(f"after {timeout:.0f}s these never arrived:\n  " + "\n  ".join(left))

    # -- the harness's own fairness, and what to say on failure -------------------------------
    def harness_refusals(self) -> list[str]:
        """Requests of the harness's own users that Synapse refused with 429: none, or the
        failure would be the harness's, not the desk's."""
        w = self.world
        return [line for m in (w.server_admin, w.ana, w.bob, w.cara)
                for line in w.synapse.rate_limited_requests(m.user_id)]

    def bot_refusals(self) -> list[str]:
        return self.world.synapse.rate_limited_requests(self.world.bot.user_id)

    def fail(self, headline: str) -> NoReturn:
        harness = self.harness_refusals()
        if harness:
            raise AssertionError("HARNESS FAULT: Synapse rate-limited the test's own users:\n  "
                                 + "\n  ".join(harness[:10]))
        raise AssertionError(headline + self.report())

    def report(self) -> str:
        """What the desk claimed, what Synapse refused the bot: for the failure message."""
        lines: list[str] = []
        if self.false_claims:
            lines.append("claimed before they were sent:")
            lines += [f"  {claim} — {why}" for claim, why in self.false_claims.items()]
        answers = self.answers()
        lines.append("the bot's answers in the management room:")
        lines += [f"  {command!r} -> {answers.get(event_id, '(none)')!r}"
                  for event_id, command in self.typed.items()]
        detail = self.detail()
        if detail is not None:
            lines.append("the desk's steps:")
            lines += [f"  {s.id} {s.rung}: {s.status}, attempts {s.attempts}, notified "
                      f"{s.notified} — {s.detail}" for s in detail.case.steps]
            lines.append("the case's timeline:")
            lines += [f"  {e.kind}: {e.summary}" for e in detail.timeline]
        refused = self.bot_refusals()
        lines.append(f"Synapse refused the bot {len(refused)} request(s) with 429")
        return "\n" + "\n".join(lines)


def test_a_whole_ladder_story_under_stock_rate_limits(
        stock_world: World, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    world = stock_world
    # the desk's clock runs at the wall's pace here: a first back-off of a second, not a
    # minute, and more tries, so that its retry window (1+2+…+64 s, each at least Synapse's
    # retry_after) still outlasts the minute Synapse needs to let the whole story through
    policy = replace(policy, retry=Retry(attempts=max(policy.retry.attempts, 8),
                                         backoff=timedelta(seconds=1)))
    app, adapter = world.app(engine, clock, policy)
    watch = Watch(world, app, clock)
    bob, cara = world.bob, world.cara

    # Matrix's own report feature: cara reports what bob said
    said = bob.client.send_text(world.lobby, "nobody asked for your opinion, go away")
    cara.client.report_event(world.lobby, said, "this hurt")
    watch.until(watch.detail, "the report to be filed as case 1")

    # ana works the case in quick succession: far more than the bot's burst
    watch.type(
        "!coc take 1",
        "!coc step 1 remind",
        "!coc step 1 warn --reason it was aimed at one person, to push them out",
        "!coc step 1 suspend --duration 12h --reason said again after the reminder",
    )
    watch.until(lambda: [s.action for s in watch.steps()] == [
        Action.REMIND, Action.WARN, Action.SUSPEND], "the desk to record the three steps")
    try:  # the desk carries each step out in the end (its retries are timers)
        # bounded, but generous: at 0.2 messages/s a DM that needs a new room waits its
        # turn behind the cards, the answers and the other step's message
        watch.until(lambda: all(s.status is StepStatus.DONE for s in watch.steps()),
                    "every step done", timeout=120.0)
    except AssertionError:
        watch.fail("the desk did not get every step done")

    watch.type("!coc resolve 1 steps-taken", "!coc list")
    watch.until_all_arrive(ARRIVAL_TIMEOUT)

    if watch.false_claims or watch.harness_refusals():
        watch.fail("every notice arrived, but not every claim was true when it was made")
    # the story did meet the limit (else it would prove nothing about it)
    assert watch.bot_refusals(), "the bot never met M_LIMIT_EXCEEDED" + watch.report()
    assert adapter.rounds >= 1
