"""Looking people up by name on Slack and Discord (their fakes, the real SDKs), and through
the report form: only what a member of the chat could see (a display name and a handle)."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from tests.support import discord_harness, slack_harness
from tests.support.web import advance, csrf_of, stamp_of

from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.ports import Candidate, Effect

WHAT = "Said I should not be here."


def _file(visitor: TestClient, clock: FakeClock, subject: str) -> tuple[int, str]:
    page = visitor.get("/report").text
    advance(clock, 10)
    r = visitor.post("/report", data={"csrf": csrf_of(page), "stamp": stamp_of(page),
                                      "subject": subject, "what": WHAT})
    return r.status_code, r.text


def test_slack_finds_members_by_display_name_real_name_or_handle(app: App,
                                                                  clock: FakeClock) -> None:
    with slack_harness.harness(app, clock) as h:
        h.fake.add_user("U0SAMROE01", "samr", real_name="Sam Roe", display_name="sammy")
        h.fake.add_user("U0SAMGONE1", "samgone", real_name="Sam Gone", deleted=True)
        h.fake.add_user("B0SAMBOT01", "sambot", real_name="Sam Bot", is_bot=True)
        platform = app.desk.platforms["slack"]
        assert platform.find_people("sam", 9) == [
            Candidate(PersonRef("slack", slack_harness.SUBJECT), "Sam Example", "@sam"),
            Candidate(PersonRef("slack", "U0SAMROE01"), "Sam Roe", "@sammy")]
        # by the real name and by the user name that is not shown (samr)
        assert [c.person.user_id for c in platform.find_people("roe", 9)] == ["U0SAMROE01"]
        assert [c.person.user_id for c in platform.find_people("@samr", 9)] == ["U0SAMROE01"]
        assert "example.com" not in repr(platform.find_people("", 99))  # no e-mail, ever


def test_slack_reads_the_member_list_a_page_at_a_time_and_keeps_it_briefly(
        app: App, clock: FakeClock) -> None:
    with slack_harness.harness(app, clock) as h:
        for i in range(250):
            h.fake.add_user(f"U1{i:08d}", f"member{i}", real_name=f"Member {i}")
        platform = app.desk.platforms["slack"]
        h.fake.clear_calls()
        assert [c.handle for c in platform.find_people("member249", 9)] == ["@member249"]
        assert len(h.fake.calls_to("users.list")) == 2  # 200 a page
        platform.find_people("rae", 9)
        assert len(h.fake.calls_to("users.list")) == 2  # kept: no new reading
        clock.advance(timedelta(minutes=3))
        platform.find_people("rae", 9)
        assert len(h.fake.calls_to("users.list")) == 4


def test_a_refused_slack_look_up_is_an_effect_and_the_form_keeps_the_name(
        app: App, clock: FakeClock, visitor: TestClient) -> None:
    with slack_harness.harness(app, clock) as h:
        h.fake.fail_next("users.list", "ratelimited", status=429)
        found = app.desk.platforms["slack"].find_people("sam", 9)
        assert isinstance(found, Effect) and "rate limiting" in found.detail
        h.fake.fail_next("users.list", "ratelimited", status=429)
        status, _ = _file(visitor, clock, "Rae Example")
        assert status == 303  # a platform's silence never refuses a report


def test_the_form_offers_slack_people_to_pick_from(app: App, clock: FakeClock,
                                                   visitor: TestClient) -> None:
    with slack_harness.harness(app, clock) as h:
        h.fake.add_user("U0SAMROE01", "samr", real_name="Sam Example")  # two of that name
        status, page = _file(visitor, clock, "sam example")
        assert status == 200
        assert sorted(re.findall(r'name="pick" value="([^"]+)"', page)) == [
            "slack:U0SAMROE01", f"slack:{slack_harness.SUBJECT}"]
        assert "on Slack" in page and "example.com" not in page
        status, page = _file(visitor, clock, "Nobody Atall")
        assert status == 422 and "e.g. @sam on Slack" in page
        # the form is public: a few letters list nobody (only whole names are looked up)
        for part in ("sa", "sam ex", "Example"):
            status, page = _file(visitor, clock, part)
            assert status == 422 and "U0SAMROE01" not in page and "samr" not in page, part


def test_discord_searches_the_server_members(app: App, clock: FakeClock) -> None:
    with discord_harness.harness(app, clock) as h:
        h.fake.add_member("310000000000000099", "samantha", global_name="Sam Two")
        h.fake.add_member("310000000000000098", "sambot", bot=True)
        platform = app.desk.platforms["discord"]
        found = platform.find_people("@Sam", 9)
        assert found == [
            Candidate(PersonRef("discord", discord_harness.SUBJECT), "Sam Example", "sam"),
            Candidate(PersonRef("discord", "310000000000000099"), "Sam Two", "samantha")]
        [call] = h.fake.calls_to("GET /guilds/{guild_id}/members/search")
        assert dict(call.params) == {"query": "Sam", "limit": "9"}
        assert platform.find_people("zz", 9) == []
