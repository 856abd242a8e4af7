"""Confidentiality on Discord: nothing the subject can read names a reporter or the hurt, and
the card leaves names out when the subject can read the admins' channel (by a role, or by a
channel permission just for them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from tests.support.discord_harness import (
    ADMIN,
    ADMINS,
    OTHER,
    REPORTER,
    SAID,
    STAFF_ROLE,
    SUBJECT,
    Harness,
    harness,
)
from tests.support.fake_discord import SEND_MESSAGES, VIEW_CHANNEL, FakeDiscord, FakeOverwrite

from conduct_desk.bootstrap import App
from conduct_desk.service.clock import FakeClock

# every way the reporter and the hurt are named: ids, mentions, user names, display names
SECRETS = (REPORTER, OTHER, "rae", "oli", "Rae Example", "Oli Example")
NOTE = "rae here: this keeps happening to oli"


_NAMED = re.compile("|".join(rf"\b{re.escape(s)}\b" for s in SECRETS), re.IGNORECASE)


def _leaks(texts: list[str]) -> list[str]:
    return [t for t in texts if _NAMED.search(t)]


def _subject_on_staff(fake: FakeDiscord) -> None:
    fake.member(SUBJECT).roles.append(STAFF_ROLE)


def _subject_let_in(fake: FakeDiscord) -> None:
    overwrite = FakeOverwrite(SUBJECT, 1, allow=VIEW_CHANNEL | SEND_MESSAGES)
    fake.channel(ADMINS).overwrites[SUBJECT] = overwrite


@pytest.fixture(params=[_subject_on_staff, _subject_let_in], ids=["by-role", "by-overwrite"])
def reads_admins(request: pytest.FixtureRequest, app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock, before_start=request.param) as h:
        assert h.fake.can_view(SUBJECT, ADMINS)
        yield h


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        assert not h.fake.can_view(SUBJECT, ADMINS)
        yield h


def test_a_card_the_subject_can_read_leaves_out_who_reported_and_who_was_hurt(reads_admins: Harness) -> None:
    h = reads_admins
    h.report(note=NOTE, harmed=(OTHER,))
    case_id = h.latest_case_id()
    card = h.card_text(case_id)
    assert SAID in card and "leaves out who reported" in card
    assert not _leaks([card]) and "keeps happening" not in card
    # an admin who is not involved still sees everything, only to themselves
    asked = h.slash(f"show {case_id}")
    shown = h.answer(asked)
    assert h.ephemeral(asked)
    assert "keeps happening" in shown and any(s in shown for s in (REPORTER, "Rae", "rae"))


def test_nothing_in_the_admins_channel_names_a_reporter_while_the_subject_reads_it(
    reads_admins: Harness,
) -> None:
    h = reads_admins
    h.report(note=NOTE, harmed=(OTHER,))
    h.report(reporter=OTHER, anonymous=True)
    case_id = h.latest_case_id()
    h.command(f"take {case_id}")
    h.step(case_id, "remind")
    h.step(case_id, "warn", reason="it went on in DMs")
    h.command(f"consult {case_id} <@{OTHER}> wants them gone")
    h.step(case_id, "suspend")
    h.run_timers(timedelta(days=1, minutes=1))
    h.command(f"resolve {case_id} steps-taken")
    assert [(s.rung, str(s.status)) for s in h.case(case_id).steps] == [
        ("remind", "done"),
        ("warn", "done"),
        ("suspend", "done"),
        ("restore", "done"),
    ]
    said = h.said_to(SUBJECT)
    assert len([t for t in said if t.startswith(f"Case {case_id}")]) == 1  # the card, and more
    assert _leaks(said) == []
    assert _leaks([f"<@{REPORTER}> did it", "ask Rae Example"]) != []  # the check itself bites


def test_nothing_the_subject_receives_names_a_reporter(h: Harness) -> None:
    h.report(note=NOTE, harmed=(OTHER,))
    h.report(reporter=OTHER, anonymous=True, note="oli: I felt unsafe")
    case_id = h.latest_case_id()
    h.command(f"take {case_id}")
    for rung in ("remind", "suggest", "remove", "warn"):
        h.step(case_id, rung)
    h.step(case_id, "suspend")
    h.run_timers(timedelta(days=1, minutes=1))
    h.command(f"consult {case_id} <@{OTHER}> wants them gone")
    h.step(case_id, "ban")
    assert all(str(s.status) == "done" for s in h.case(case_id).steps)
    assert len(h.case(case_id).steps) == 7
    said = h.said_to(SUBJECT)
    assert said, "the subject was told about each step"
    assert _leaks(said) == []
    assert all("unsafe" not in t and "keeps happening" not in t for t in said)


def test_the_private_word_and_its_follow_up_never_name_the_reporter(h: Harness) -> None:
    h.report(nudge=True, note=NOTE, harmed=(OTHER,))
    h.fake.wait_for(lambda: h.dm_texts(SUBJECT) or None, 15, "the private word")
    # the author writes back to the desk: they are thanked, and still told no names
    h.dm_desk(SUBJECT, "who said that? was it rae?")
    h.run_timers(h.app.desk.policy.peer_wait + timedelta(minutes=1))
    assert _leaks([t.replace("was it rae?", "") for t in h.said_to(SUBJECT)]) == []


def test_the_subject_cannot_read_a_case_about_them_with_a_command(h: Harness) -> None:
    h.report(note=NOTE, harmed=(OTHER,))
    case_id = h.latest_case_id()
    for text in (f"show {case_id}", "list", f"take {case_id}"):
        asked = h.slash(text, SUBJECT)
        answer = h.answer(asked)
        assert h.ephemeral(asked) and _leaks([answer]) == [], text
        assert "keeps happening" not in answer


def test_an_admin_who_is_the_subject_gets_a_card_without_names(app: App, clock: FakeClock) -> None:
    with harness(
        app, clock, admins=f"{ADMIN}:admin,{SUBJECT}:moderator", before_start=_subject_on_staff
    ) as h:
        h.report(note=NOTE, harmed=(OTHER,))
        case_id = h.latest_case_id()
        assert _leaks([h.card_text(case_id)]) == []
        answer = h.command(f"show {case_id}", SUBJECT)
        assert _leaks([answer]) == [] and "keeps happening" not in answer
