"""A notice the homeserver took but the desk never recorded as sent (its worker killed in
between, or the record lost in a power cut) is tried again by its timer; it still reaches the
room once: every try of one notice carries the same transaction id."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from tests.support.matrix_world import World
from tests.support.outbox import notice_ids, try_again_as_after_a_kill
from tests.support.synapse_fixtures import db_url  # noqa: F401  (Matrix, not storage: SQLite)

from conduct_desk.domain.notices import Purpose
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy
from conduct_desk.service import notices as outbox
from conduct_desk.service.clock import FakeClock


def test_a_notice_tried_again_after_matrix_took_it_posts_once(
        world: World, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    app, _ = world.app(engine, clock, policy)
    admins_line = "Case 41: a line for the admins, tried twice"
    private = "A private word for bob, tried twice"
    outbox.send_admins(app.uow(), app.desk, "matrix", admins_line)
    outbox.send_dm(app.uow(), app.desk, PersonRef("matrix", world.bob.user_id), private,
                   purpose=Purpose.NUDGE)
    try_again_as_after_a_kill(app, notice_ids(app, admins_line, private))

    bot = world.bot.user_id
    assert world.ana.texts_from(world.management, bot).count(admins_line) == 1
    assert world.dm_texts(world.bob).count(private) == 1
