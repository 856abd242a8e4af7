"""Case cards in the admins' room: one glance at each case, kept current.

One subscription to the bus for every event that changes what a card shows; the card is
posted, or edited in place, through the transport. When the platform refuses for a moment
(a rate limit, an outage) the card is kept in the desk's outbox and drawn again after the
platform's own wait, by whichever worker runs the timers, after a restart too.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from conduct_desk.domain import events
from conduct_desk.domain.errors import NotFound
from conduct_desk.domain.notices import Notice, NoticeKind, Purpose
from conduct_desk.service import notices, views
from conduct_desk.service.chat import render
from conduct_desk.service.chat.transport import Card, ChatTransport, Posted
from conduct_desk.service.ports import Effect, EffectStatus, UnitOfWork

if TYPE_CHECKING:
    from conduct_desk.service.chat.desk import DeskApp

logger = logging.getLogger(__name__)

DRAWN_KEPT = 2000  # cards whose last drawing is remembered
CARD_EVENTS: tuple[type[events.Event], ...] = (
    events.ReportFiled, events.CaseTaken, events.StepRecorded, events.StepUpdated,
    events.CaseResolved, events.CaseReopened, events.InvolvementChanged, events.NoteAdded)


class CardKeeper:
    def __init__(self, app: DeskApp, transport: ChatTransport, words: render.Words,
                 prefix: str) -> None:
        self.app, self.transport, self.words = app, transport, words
        self.prefix = prefix  # cursor names: f"{prefix}{case_id}" holds the card's message id
        # what each card shows as last drawn by this process (the latest DRAWN_KEPT cases):
        # an unchanged card is not drawn again (under a rate limit, each edit costs a message
        # the steps need)
        self._drawn: OrderedDict[int, int] = OrderedDict()
        for event_type in CARD_EVENTS:
            app.bus.subscribe(event_type, self._on_event)
        app.desk.notice_senders[(transport.platform, NoticeKind.CARD)] = self._deliver

    def _deliver(self, notice: Notice) -> Effect:
        """The outbox's try of a card kept for later: drawn as the case is now."""
        if notice.case_id is None:
            return Effect.done()
        return self.refresh(notice.case_id) or Effect.done("the card is up to date")

    def key(self, case_id: int) -> str:
        return f"{self.prefix}{case_id}"

    def posted(self, case_id: int) -> str | None:
        """The message id of the case's card, if it was posted."""
        with self.app.uow() as uow:
            return uow.cursors.get(self.key(case_id))

    def _on_event(self, event: events.Event, uow: UnitOfWork) -> None:
        case_id: Any = getattr(event, "case_id", None)
        if isinstance(case_id, int):
            self.refresh_or_keep(case_id)

    def refresh_or_keep(self, case_id: int) -> None:
        """Draw the card now; refused, keep it in the outbox to draw again after the wait."""
        effect = self.refresh(case_id)
        if effect is None:
            return
        kept = notices.keep(self.app.uow(), self.app.desk, Notice(
            self.transport.platform, NoticeKind.CARD, "", case_id=case_id,
            purpose=Purpose.CARD), effect)
        if kept.status is EffectStatus.FAILED and not kept.retryable:
            logger.warning("the card of case %s was not updated: %s", case_id, effect.detail)

    def refresh(self, case_id: int) -> Effect | None:
        """Post the card or edit it; None when done (or nothing to show), else the refusal."""
        try:
            detail = views.case_detail(self.app.uow(), self.app.desk, case_id)
        except NotFound:
            return None
        if detail.case.subject.platform != self.transport.platform:
            return None
        subject = detail.case.subject.user_id
        card = Card(detail, render.card_text(detail, self.words),
                    self.transport.reads_admin_room(subject), self.posted(case_id))
        shown = hash((card.text, card.names_hidden, card.existing))
        if card.existing is not None and self._drawn.get(case_id) == shown:
            return None  # the card already shows this
        result = self.transport.post_card(card)
        if isinstance(result, Posted):
            if result.ref != card.existing:
                with self.app.uow() as uow:
                    uow.cursors.set(self.key(case_id), result.ref)
                    uow.commit()
            self._drawn[case_id] = hash((card.text, card.names_hidden, result.ref))
            self._drawn.move_to_end(case_id)
            if len(self._drawn) > DRAWN_KEPT:  # a long-running desk: only the recent ones
                self._drawn.popitem(last=False)
            return None
        return result
