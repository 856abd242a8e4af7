"""Looking people up on the real Synapse, as the bot: its user directory finds the people who
share a room with the bot (what a member could find), by display name or Matrix id."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.support.matrix_world import World, wait_for
from tests.support.synapse_fixtures import db_url  # noqa: F401  (Matrix, not storage: SQLite)
from tests.support.web import advance, csrf_of, stamp_of

from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.ports import Effect
from conduct_desk.web.app import create_app


def test_the_bot_finds_room_members_by_name_and_nobody_else(
        world: World, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    app, _ = world.app(engine, clock, policy)  # the bot joins the lobby
    platform = app.desk.platforms["matrix"]
    name = f"Bobby Tables {world.tag}"
    r = world.bob.client.request("PUT", f"/_matrix/client/v3/profile/{world.bob.user_id}/displayname",
                                 json={"displayname": name})
    assert r.status_code == 200, r.text
    # someone on the server who shares no room with the bot, in no public room
    loner, _ = world.synapse.register(f"bobby-{world.tag}", "pw-loner-123", displayname=name)

    def found() -> list[PersonRef] | None:
        people = platform.find_people(f"Bobby Tables {world.tag}", 9)
        assert not isinstance(people, Effect), people
        return [c.person for c in people] or None

    assert wait_for(found, "the directory to know bob's new name") == [
        PersonRef("matrix", world.bob.user_id)]
    [cara] = platform.find_people(world.cara.user_id, 9)  # type: ignore[misc]
    assert cara.person == PersonRef("matrix", world.cara.user_id)
    assert cara.handle == world.cara.user_id
    assert loner not in repr(platform.find_people(f"bobby-{world.tag}", 9))
    assert world.bot.user_id not in repr(platform.find_people(f"desk-{world.tag}", 9))

    # through the report form: one match is that person; none says how a handle looks here
    with TestClient(create_app(app), follow_redirects=False) as visitor:
        def send(subject: str) -> tuple[int, str]:
            page = visitor.get("/report").text
            advance(clock, 10)
            sent = visitor.post("/report", data={"csrf": csrf_of(page), "stamp": stamp_of(page),
                                                 "subject": subject, "what": "unkind"})
            return sent.status_code, sent.text

        assert send(name)[0] == 303
        with app.uow() as uow:
            assert uow.cases.get(1).subject == PersonRef("matrix", world.bob.user_id)
        status, page = send(f"nobody-{world.tag}")
        server = world.bot.user_id.partition(":")[2]
        assert status == 422 and f"e.g. @sam:{server} on Matrix" in page
        assert re.search(r'id="subject"[^>]*aria-invalid="true"', page)

