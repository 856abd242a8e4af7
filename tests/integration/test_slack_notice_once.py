"""A message from the outbox posts once on Slack, even when the worker that sent it died first.

Slack has no idempotency key: the desk's message carries the notice's key as its metadata,
and a try that may repeat an earlier one (a worker died between Slack's answer and the
record) looks for it in the conversation before posting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from tests.support.outbox import as_after_a_kill, notice_ids, try_again_as_after_a_kill
from tests.support.slack_harness import ADMINS, SUBJECT, Harness, harness

from conduct_desk.bootstrap import App
from conduct_desk.domain.notices import NoticeStatus, Purpose
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import notices as outbox
from conduct_desk.service.clock import FakeClock

POST = "chat.postMessage"


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def _dms(h: Harness) -> list[str]:
    return [m.text for m in h.fake.messages(h.fake.dm_channel_id(SUBJECT))]


def _posts(h: Harness, *texts: str) -> list[str]:
    """How often each text went to Slack's chat.postMessage (tries, not messages)."""
    return [c.params.get("text") for c in h.fake.calls_to(POST) if c.params.get("text") in texts]


def test_a_notice_tried_again_after_slack_took_it_posts_once(h: Harness) -> None:
    """The admins' line under a case's card, a line in the admins' channel and a private
    message, each taken by Slack before a worker died: the second try finds each one and
    posts nothing; the notices are recorded sent."""
    case_id = h.report()
    under_card = f"Case {case_id}: a line for the admins, tried twice"
    in_channel = "A line for the admins about no case, tried twice"
    private = "A private word, tried twice"
    for line in (under_card, in_channel):
        outbox.send_admins(h.app.uow(), h.app.desk, "slack", line)
    outbox.send_dm(h.app.uow(), h.app.desk, PersonRef("slack", SUBJECT), private,
                   purpose=Purpose.NUDGE)
    ids = notice_ids(h.app, under_card, in_channel, private)
    try_again_as_after_a_kill(h.app, ids)
    assert sorted(_posts(h, under_card, in_channel, private)) == sorted(
        [under_card, in_channel, private])  # each posted once, none again
    admins = [m.text for m in h.fake.messages(ADMINS)]
    assert admins.count(under_card) == 1 and admins.count(in_channel) == 1
    assert _dms(h).count(private) == 1


def test_a_notice_slack_never_took_is_posted_by_its_second_try(h: Harness) -> None:
    """A first try Slack refused (rate limited) left nothing to find: the second try posts."""
    private = "A private word, held back once"
    h.fake.fail_next(POST, "ratelimited", status=429, headers={"Retry-After": "2"})
    effect = outbox.send_dm(h.app.uow(), h.app.desk, PersonRef("slack", SUBJECT), private,
                            purpose=Purpose.NUDGE)
    assert effect is not None and outbox.is_pending(effect)
    assert _dms(h).count(private) == 0
    h.run_timers(effect.retry_after or timedelta(minutes=1))
    assert _dms(h).count(private) == 1
    assert notice_ids(h.app, private)  # recorded sent


def test_when_slack_cannot_say_whether_it_took_a_notice_it_waits_and_posts_once(
        h: Harness) -> None:
    """The look for an earlier try is itself rate limited: the notice stays pending (not
    posted blind, not lost) and goes once when Slack answers again."""
    private = "A private word, tried after the look was held back"
    outbox.send_dm(h.app.uow(), h.app.desk, PersonRef("slack", SUBJECT), private,
                   purpose=Purpose.NUDGE)
    (notice_id,) = notice_ids(h.app, private)
    h.fake.fail_next("conversations.history", "ratelimited", status=429,
                     headers={"Retry-After": "3"})
    as_after_a_kill(h.app, [notice_id])
    h.run_timers()
    with h.app.uow() as uow:
        notice = uow.notices.get(notice_id)
    assert notice is not None and notice.status is NoticeStatus.PENDING
    assert "rate limiting" in (notice.last_error or "")
    h.run_timers(timedelta(seconds=5))
    with h.app.uow() as uow:
        notice = uow.notices.get(notice_id)
    assert notice is not None and notice.status is NoticeStatus.SENT
    assert _dms(h).count(private) == 1
