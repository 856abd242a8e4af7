"""The Matrix transport's contract, without a homeserver: a Matrix event becomes one chat
input (or none), and what the chat desk says becomes the Matrix request it should. Also the
Matrix settings, links and homeserver errors. Behaviour is the chat desk's, tested once in
``tests/unit/chat``; the real Synapse runs in ``tests/e2e/test_matrix_*``."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import DeskError, InvalidInput
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms import matrix
from conduct_desk.platforms.matrix import (
    BanMode,
    EventLink,
    MatrixApi,
    MatrixConfig,
    MatrixFailure,
    MatrixSettings,
    MatrixTransport,
    configure,
    find_event_link,
)
from conduct_desk.platforms.matrix.transport import Message, missed_commands
from conduct_desk.service.chat.inputs import (
    ChannelMessage,
    CommandTyped,
    DirectMessage,
    MessageDeleted,
    MessageEdited,
    Reaction,
    ReactionKind,
    ReportSubmitted,
)
from conduct_desk.service.chat.transport import Card, MessageRef, Posted
from conduct_desk.service.ports import Effect, EffectStatus

BOT = "@desk:example.org"
LOBBY, MANAGEMENT, DM = "!lobby:example.org", "!admins:example.org", "!dm:example.org"
ANA, RILEY, SAM = "@ana:example.org", "@riley:example.org", "@sam:example.org"


# -- fakes: the homeserver's API, the platform around it, and the chat desk ----------------------

class FakeApi:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.redacted: list[tuple[str, str]] = []
        self.members = {MANAGEMENT: {BOT, ANA}, LOBBY: {BOT, SAM, RILEY}}
        self.refuse: MatrixFailure | None = None
        self.reports: dict[str, list[dict[str, Any]]] = {"event_reports": [], "user_reports": []}

    def send(self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message") -> str:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append((room_id, content))
        return f"$sent{len(self.sent)}"

    def redact(self, room_id: str, event_id: str) -> None:
        self.redacted.append((room_id, event_id))

    def joined_members(self, room_id: str) -> set[str]:
        if self.refuse is not None:
            raise self.refuse
        return self.members.get(room_id, set())

    def display_name(self, user_id: str) -> str | None:
        return {SAM: "Sam"}.get(user_id)

    def room_name(self, room_id: str) -> str | None:
        return {LOBBY: "#community"}.get(room_id)

    def join(self, room: str) -> str:
        return room

    def admin(self, method: str, path: str, body: Any = None, params: Any = None) -> dict[str, Any]:
        kind = path.rsplit("/", 1)[-1]
        if kind in self.reports:
            return {kind: sorted(self.reports[kind], key=lambda r: -int(r["id"]))}
        return {"event_json": {"content": {"body": "what sam said"}}}  # one event report


class FakeCursors:
    prefix = f"matrix:{BOT}:"

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        self.values[name] = value


class FakePlatform:
    def __init__(self, config: MatrixConfig) -> None:
        self.config, self.api, self.cursors = config, FakeApi(), FakeCursors()
        self.dms: list[tuple[str, str]] = []
        self.dm_rooms: dict[str, str] = {}

    def room_id(self, room: str) -> str:
        if room == "#gone:example.org":
            raise MatrixFailure("M_NOT_FOUND", "Room alias not found", 404)
        return {"#lobby:example.org": LOBBY}.get(room, room)

    def send_dm(self, person: PersonRef, text: str, key: str | None = None,
                again: bool = False) -> Effect:
        self.dms.append((person.user_id, text))
        return Effect.done("sent")

    def remember_dm(self, user_id: str, room_id: str) -> None:
        self.dm_rooms[user_id] = room_id


class FakeChat:
    """Records what the transport hands the chat desk."""

    def __init__(self) -> None:
        self.inputs: list[object] = []
        self.takes_reactions = True
        self.watched: set[tuple[str, str]] = set()  # (room, author)

    def handle(self, item: object) -> None:
        self.inputs.append(item)

    def watches(self, channel: str, message_id: str | None = None,
                author: str | None = None) -> bool:
        return (channel, author or "") in self.watched


def _config(**overrides: Any) -> MatrixConfig:
    values: dict[str, Any] = {"homeserver": "https://hs.example.org", "user_id": BOT,
                              "access_token": "t", "admin_token": "a", "rooms": LOBBY,
                              "management_room": MANAGEMENT}
    values.update(overrides)
    return MatrixConfig.from_settings(MatrixSettings(**values))


@pytest.fixture
def t() -> MatrixTransport:
    transport = MatrixTransport(FakePlatform(_config()))  # type: ignore[arg-type]
    transport.chat = FakeChat()  # type: ignore[assignment]
    return transport


def _api(t: MatrixTransport) -> FakeApi:
    return t.api  # type: ignore[return-value]


def _chat(t: MatrixTransport) -> FakeChat:
    return t.chat  # type: ignore[return-value]


def _event(sender: str, kind: str, content: dict[str, Any], event_id: str = "$ev1",
           **more: Any) -> dict[str, Any]:
    return {"event_id": event_id, "sender": sender, "type": kind, "content": content, **more}


def _sync(t: MatrixTransport, room_id: str, *events: dict[str, Any], first: bool = False,
          fresh: bool = False, members: int = 5) -> list[object]:
    """One sync round with these timeline events in the room; the inputs the desk got."""
    before = len(_chat(t).inputs)
    response = SimpleNamespace(rooms=SimpleNamespace(invite={}, join={room_id: SimpleNamespace(
        timeline=SimpleNamespace(events=[SimpleNamespace(source=e) for e in events]))}))
    client = SimpleNamespace(rooms={room_id: SimpleNamespace(member_count=members)})
    t._handle_sync(client, response, fresh, first)
    return _chat(t).inputs[before:]


def _text(body: str) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": body}


def _react(key: str, target: str = "$said") -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}}


# -- events become inputs ------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ("!coc take 12", "take 12"), ("!COC  list", "list"), ("!coc", ""),
    ("!cocktail party", None), ("hello !coc", None), ("hello", None),
])
def test_the_management_room_gives_commands(t: MatrixTransport, body: str,
                                            expected: str | None) -> None:
    got = _sync(t, MANAGEMENT, _event(ANA, "m.room.message", _text(body)))
    assert got == ([] if expected is None else
                   [CommandTyped(ANA, expected, room=MANAGEMENT, message_id="$ev1")])


def test_the_bots_own_messages_are_not_commands(t: MatrixTransport) -> None:
    assert _sync(t, MANAGEMENT, _event(BOT, "m.room.message", _text("!coc help"))) == []


@pytest.mark.parametrize(("key", "kind"), [("🚩", ReactionKind.REPORT),
                                           ("🕊️", ReactionKind.NUDGE), ("🕊", ReactionKind.NUDGE)])
def test_a_report_reaction_is_taken_away_and_handed_on(t: MatrixTransport, key: str,
                                                       kind: ReactionKind) -> None:
    assert _sync(t, LOBBY, _event(RILEY, "m.reaction", _react(key), "$r")) == [
        Reaction(RILEY, LOBBY, "$said", kind)]
    assert _api(t).redacted == [(LOBBY, "$r")]


def test_when_reactions_do_not_report_the_bot_draws_no_eyes_to_one(t: MatrixTransport) -> None:
    _chat(t).takes_reactions = False
    assert _sync(t, LOBBY, _event(RILEY, "m.reaction", _react("🚩"))) == []
    assert _sync(t, LOBBY, _event(RILEY, "m.reaction", _react("👀"))) == []
    assert _api(t).redacted == []


def test_edits_removals_and_the_authors_next_words(t: MatrixTransport) -> None:
    edit = {"msgtype": "m.text", "body": "* better", "m.new_content": _text("better"),
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$said"}}
    assert _sync(t, LOBBY, _event(SAM, "m.room.message", edit)) == [
        MessageEdited(SAM, LOBBY, "$said")]
    assert _sync(t, LOBBY, _event(SAM, "m.room.redaction", {}, "$x", redacts="$said")) == [
        MessageDeleted(LOBBY, "$said", SAM)]
    # words in the room go to the desk only when it waits on that author there (a nudge)
    assert _sync(t, LOBBY, _event(SAM, "m.room.message", _text("sorry"), "$n")) == []
    _chat(t).watched.add((LOBBY, SAM))
    assert _sync(t, LOBBY, _event(SAM, "m.room.message", _text("sorry"), "$n")) == [
        ChannelMessage(SAM, LOBBY, "$n", "sorry")]


def test_direct_rooms_give_messages_and_confirmations(t: MatrixTransport) -> None:
    assert _sync(t, DM, _event(RILEY, "m.room.message", _text("hi")), members=2) == [
        DirectMessage(RILEY, "hi")]
    assert t.matrix.dm_rooms == {RILEY: DM}  # type: ignore[attr-defined]
    assert _sync(t, DM, _event(SAM, "m.reaction", _react("✅", "$warning"))) == [
        Reaction(SAM, DM, "$warning", ReactionKind.CONFIRM)]
    assert _sync(t, DM, _event(SAM, "m.reaction", _react("🚩"))) == []
    assert _sync(t, "!big:example.org", _event(SAM, "m.room.message", _text("hi"))) == []


def test_a_fresh_start_reads_no_history_but_the_commands_it_missed(t: MatrixTransport) -> None:
    now = int(time.time() * 1000)
    minute = 60_000
    assert _sync(t, LOBBY, _event(SAM, "m.room.message", _text("old"), origin_server_ts=now),
                 first=True, fresh=True) == []
    got = _sync(t, MANAGEMENT,
                _event(ANA, "m.room.message", _text("!coc take 1"), "$a", origin_server_ts=now - 3 * minute),
                _event(BOT, "m.room.message", _text("Conduct Desk is listening"), "$b",
                       origin_server_ts=now - 2 * minute),
                _event(ANA, "m.room.message", _text("!coc list"), "$c", origin_server_ts=now - minute),
                first=True, fresh=True)
    assert got == [CommandTyped(ANA, "list", room=MANAGEMENT, message_id="$c")]


def test_missed_commands_are_those_after_the_bots_last_word_and_recent() -> None:
    now = 100 * 60_000

    def m(sender: str, body: str, minutes_ago: float) -> Message:
        return Message.of(MANAGEMENT, _event(sender, "m.room.message", _text(body),
                                             f"${body}", origin_server_ts=int(now - minutes_ago * 60_000)))

    joined = Message.of(MANAGEMENT, _event(BOT, "m.room.member", {"membership": "join"}, "$j",
                                           origin_server_ts=now - 60_000))
    timeline = [m(ANA, "!coc take 1", 30), m(BOT, "ok", 20), m(ANA, "!coc take 2", 16),
                m(ANA, "hello", 5), m(ANA, "!coc take 3", 14), joined, m(ANA, "!coc take 4", 0)]
    assert [x.body for x in missed_commands(timeline, BOT, now)] == ["!coc take 3",
                                                                     "!coc take 4"]
    assert [x.body for x in missed_commands(timeline[2:], "@other:x", now)] == [
        "!coc take 3", "!coc take 4"]


def test_synapse_reports_are_handed_on_once_with_their_read_position(t: MatrixTransport) -> None:
    api = _api(t)
    api.reports["event_reports"] = [
        {"id": 7, "room_id": LOBBY, "event_id": "$said", "sender": SAM, "user_id": RILEY,
         "reason": "this hurt"},
        {"id": 8, "room_id": "!elsewhere:x", "event_id": "$e", "sender": SAM, "user_id": RILEY}]
    api.reports["user_reports"] = [
        {"id": 3, "target_user_id": SAM, "user_id": RILEY, "reason": "he keeps doing it"},
        {"id": 4, "target_user_id": "@stranger:x", "user_id": RILEY}]
    t.poll_reports()
    prefix = f"matrix:{BOT}:"
    assert _chat(t).inputs == [
        ReportSubmitted(RILEY, SAM, LOBBY, "$said", "this hurt", message_text="what sam said",
                        message_link=f"https://matrix.to/#/{LOBBY}/$said",
                        mark=(prefix + "event_reports:7", "filed")),
        ReportSubmitted(RILEY, SAM, note="he keeps doing it",
                        mark=(prefix + "user_reports:3", "filed"))]
    assert t.cursors.values == {"event_reports": "8", "user_reports": "4"}  # type: ignore[attr-defined]
    t.poll_reports()
    assert len(_chat(t).inputs) == 2


# -- what the desk says becomes Matrix requests --------------------------------------------------

def test_an_answer_is_a_notice_replying_to_the_command(t: MatrixTransport) -> None:
    assert t.answer(ANA, MANAGEMENT, "$cmd", "Case 1 is yours, ana.").status is EffectStatus.DONE
    assert _api(t).sent == [(MANAGEMENT, {"msgtype": "m.notice", "body": "Case 1 is yours, ana.",
                                          "m.relates_to": {"m.in_reply_to": {"event_id": "$cmd"}}})]
    t.answer(ANA, None, None, "only for you")
    assert t.matrix.dms == [(ANA, "only for you")]  # type: ignore[attr-defined]


def test_a_card_is_posted_then_edited_in_place(t: MatrixTransport) -> None:
    card = Card(detail=None, text="Case 1 · new", names_hidden=False, existing=None)  # type: ignore[arg-type]
    assert t.post_card(card) == Posted("$sent1")
    assert t.post_card(Card(None, "Case 1 · taken", False, "$sent1")) == Posted("$sent1")  # type: ignore[arg-type]
    assert _api(t).sent[1] == (MANAGEMENT, {
        "msgtype": "m.notice", "body": "* Case 1 · taken",
        "m.new_content": {"msgtype": "m.notice", "body": "Case 1 · taken"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$sent1"}})


def test_a_rate_limited_card_carries_the_homeservers_wait(t: MatrixTransport) -> None:
    _api(t).refuse = MatrixFailure("M_LIMIT_EXCEEDED", "Too Many Requests", 429,
                                   timedelta(milliseconds=1500))
    effect = t.post_card(Card(None, "Case 1", False, None))  # type: ignore[arg-type]
    assert isinstance(effect, Effect) and effect.retryable
    assert effect.retry_after == timedelta(milliseconds=1500)
    assert t.reads_admin_room(SAM)  # who reads the room is unknown: assume the subject may


def test_names_people_and_links(t: MatrixTransport) -> None:
    assert t.reads_admin_room(ANA) and not t.reads_admin_room(SAM)
    assert (t.person_name(SAM), t.mention(SAM), t.mention(RILEY)) == ("Sam", "Sam", RILEY)
    assert t.channel_name(LOBBY) == "#community"
    assert t.person_word(SAM) == SAM and t.person_word(f"https://matrix.to/#/{SAM}") == SAM
    assert t.person_word("sam") is None
    assert t.people_in(f"{BOT} {SAM} keeps messaging me") == [SAM]
    assert t.message_in(f"see https://matrix.to/#/{LOBBY}/$e?via=x") == MessageRef(LOBBY, "$e")
    assert t.looks_after("#lobby:example.org") == LOBBY
    assert t.looks_after("!private:example.org") is None
    assert t.looks_after("#gone:example.org") is None
    assert not t.open_step_form("x", 1, "warn", "text", None, None)


def test_a_rooms_name_is_its_name_or_its_alias_without_the_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    api = MatrixApi(_config())
    states: dict[str, dict[str, Any] | None] = {}
    monkeypatch.setattr(api, "state", lambda room, kind, key="": states.get(kind))
    states["m.room.canonical_alias"] = {"alias": "#community:example.org"}
    assert api.room_name(LOBBY) == "#community"
    states["m.room.name"] = {"name": "Community lounge"}
    assert api.room_name(LOBBY) == "Community lounge"
    states.clear()
    assert api.room_name(LOBBY) is None
    api.close()


def test_event_links() -> None:
    link = EventLink("!room:example.org", "$ev1")
    assert find_event_link("see https://matrix.to/#/!room:example.org/$ev1?via=example.org") == link
    assert find_event_link("https://matrix.to/#/%21room%3Aexample.org/%24ev1") == link
    assert find_event_link("matrix:roomid/room:example.org/e/ev1") == link
    assert find_event_link("https://matrix.to/#/#lobby:example.org/$ev1") == EventLink(
        "#lobby:example.org", "$ev1")
    assert find_event_link("https://matrix.to/#/@bob:example.org") is None


# -- settings and errors -------------------------------------------------------------------------

def test_settings_files_and_secrets(tmp_path: Path) -> None:
    token, admin = tmp_path / "token", tmp_path / "admin"
    token.write_text("syt_tok_value_1\n")
    admin.write_text("syt_adm_value_2")
    settings = MatrixSettings(homeserver="https://hs.example.org/", user_id=BOT,
                              access_token_file=token, admin_token_file=admin,
                              rooms="!a:x.org, #b:x.org", ban_mode=BanMode.LOCK,
                              admins="ana=@ana:x.org admin, bo=@bo:x.org")
    config = MatrixConfig.from_settings(settings)
    assert (config.homeserver, config.access_token, config.admin_token) == (
        "https://hs.example.org", "syt_tok_value_1", "syt_adm_value_2")
    assert config.rooms == ("!a:x.org", "#b:x.org") and config.ban_mode is BanMode.LOCK
    assert [(a.name, a.role) for a in config.admins.values()] == [
        ("ana", Role.ADMIN), ("bo", Role.MODERATOR)]  # moderator unless it says admin
    # without the variable the policy's [ban] account decides; with it, the variable does
    assert MatrixConfig.from_settings(settings.model_copy(update={"ban_mode": None}),
                                      "lock").ban_mode is BanMode.LOCK
    assert MatrixConfig.from_settings(settings.model_copy(update={"ban_mode": None})
                                      ).ban_mode is BanMode.DEACTIVATE
    assert MatrixConfig.from_settings(settings, "deactivate").ban_mode is BanMode.LOCK
    assert "value_" not in repr(config) and "value_" not in repr(settings)


def test_settings_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="CONDUCT_MATRIX_ACCESS_TOKEN or CONDUCT_MATRIX_PASSWORD"):
        MatrixConfig.from_settings(MatrixSettings(homeserver="https://hs", user_id=BOT))
    with pytest.raises(InvalidInput, match="CONDUCT_MATRIX_USER_ID"):
        MatrixConfig.from_settings(MatrixSettings(homeserver="https://hs", user_id="desk",
                                                  password="pw"))
    with pytest.raises(InvalidInput, match="CONDUCT_MATRIX_PASSWORD_FILE: cannot read"):
        MatrixConfig.from_settings(MatrixSettings(homeserver="https://hs", user_id=BOT,
                                                  password_file=tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(InvalidInput, match="CONDUCT_MATRIX_PASSWORD_FILE: .* is empty"):
        MatrixConfig.from_settings(MatrixSettings(homeserver="https://hs", user_id=BOT,
                                                  password_file=tmp_path / "empty"))
    with pytest.raises(InvalidInput, match="CONDUCT_MATRIX_ADMINS: 'bob' is not a matrix user id"):
        MatrixConfig.from_settings(MatrixSettings(homeserver="https://hs", user_id=BOT,
                                                  password="pw", admins="ana=bob"))


def test_configure_without_settings_is_none() -> None:
    assert configure(object(), MatrixSettings()) is None  # type: ignore[arg-type]


def test_configure_without_nio_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matrix.transport, "nio", None)
    with pytest.raises(DeskError, match=r"pip install 'conduct-desk\[matrix\]'"):
        configure(object(), MatrixSettings(homeserver="https://hs", user_id=BOT,  # type: ignore[arg-type]
                                           access_token="t"))


def test_the_homeservers_wait_comes_from_retry_after_ms() -> None:
    api = MatrixApi(_config())
    api._http = httpx.Client(base_url="https://hs.example.org", transport=httpx.MockTransport(
        lambda request: httpx.Response(429, json={"errcode": "M_LIMIT_EXCEEDED",
                                                  "error": "Too Many Requests",
                                                  "retry_after_ms": 2500})))
    with pytest.raises(MatrixFailure) as caught:
        api.send(MANAGEMENT, {"msgtype": "m.notice", "body": "hi"})
    assert caught.value.retry_after == timedelta(milliseconds=2500)
    assert caught.value.effect("posting").retry_after == timedelta(milliseconds=2500)
    api.close()


def test_homeserver_errors_become_effects() -> None:
    limited = MatrixFailure("M_LIMIT_EXCEEDED", "Too Many Requests", 429, timedelta(seconds=3))
    effect = limited.effect("posting")
    assert effect.retryable and effect.retry_after == timedelta(seconds=3)
    forbidden = MatrixFailure("M_FORBIDDEN", "You don't have permission to kick", 403)
    effect = forbidden.effect("removing", "Give the bot a power level.")
    assert not effect.retryable and "Give the bot a power level." in effect.detail
    gone = MatrixFailure("M_NOT_FOUND", "User not found", 404).effect("suspending")
    assert not gone.retryable and "gone" in gone.detail
    down = MatrixFailure("M_UNREACHABLE", "no answer", None).effect("posting")
    assert down.retryable


def test_the_adapter_keeps_the_cards_where_the_old_bot_kept_them() -> None:
    """Existing deployments keep editing their cards: ``matrix:<bot>:card:<case>``."""
    app = SimpleNamespace(
        desk=SimpleNamespace(platform_admins={}, channel_namers={}, person_namers={},
                             notice_senders={}, clock=None,
                             policy=SimpleNamespace(ban_account="deactivate")),
        bus=SimpleNamespace(subscribe=lambda *args: None), uow=None)
    adapter = configure(app, MatrixSettings(  # type: ignore[arg-type]
        homeserver="https://hs.example.org", user_id=BOT, access_token="t",
        admins=f"ana={ANA} admin"))
    assert adapter is not None
    assert adapter.chat.cards.key(7) == f"matrix:{BOT}:card:7"
    assert adapter.cursors.prefix == f"matrix:{BOT}:"  # read positions and direct rooms too
    assert adapter.chat.admins_variable == "CONDUCT_MATRIX_ADMINS"
    assert app.desk.platform_admins["ana"].role is Role.ADMIN
    adapter.platform.close()
