"""Parsing what people type to the Matrix bot, and the Matrix settings (no homeserver needed)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from conduct_desk.bootstrap import App
from conduct_desk.config import preset_text
from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import DeskError, InvalidInput
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy, parse_policy
from conduct_desk.platforms import matrix_commands as mc
from conduct_desk.platforms.matrix import (
    BanMode,
    MatrixAdapter,
    MatrixConfig,
    MatrixFailure,
    MatrixSettings,
    _Message,
    configure,
)
from conduct_desk.service import commands
from conduct_desk.service.ports import Effect, FetchedMessage

BOT = "@desk:example.org"


@pytest.mark.parametrize(("text", "expected"), [
    ("!coc", mc.Help()),
    ("!coc help", mc.Help()),
    ("!coc list", mc.ListCases()),
    ("!coc show 12", mc.ShowCase(12)),
    ("!coc show #12", mc.ShowCase(12)),
    ("!coc take 12", commands.TakeCase(12, "ana")),
    ("!coc step 12 warn", commands.TakeStep(12, "warn", "ana")),
    ("!coc step 3 suspend --duration 24h --reason he was warned, didn't stop",
     commands.TakeStep(3, "suspend", "ana", duration="24h", reason="he was warned, didn't stop")),
    ("!coc step 3 suggest --suggestion take it to #random --reason same again",
     commands.TakeStep(3, "suggest", "ana", suggestion="take it to #random", reason="same again")),
    ("!coc consult 12 @alice:example.org she wants him gone",
     commands.Consult(12, "ana", "she wants him gone", mc.person("@alice:example.org"))),
    ("!coc consult 12 --not-possible they asked not to be contacted",
     commands.Consult(12, "ana", "they asked not to be contacted", None)),
    ("!coc resolve 12 steps-taken", commands.ResolveCase(12, "ana", "steps-taken", None)),
    ("!coc resolve 12 no-action it was a quote from a film",
     commands.ResolveCase(12, "ana", "no-action", "it was a quote from a film")),
    ("!coc reopen 12", commands.ReopenCase(12, "ana")),
    ("!coc handover 12 bo", commands.HandOver(12, "ana", "bo")),
    ("!coc handover 12 @bo:example.org", commands.HandOver(12, "ana", "@bo:example.org")),
    ("!coc retry 12 3", commands.RetryStep(12, 3)),
    ("!coc done 12 3", commands.MarkManualDone(12, 3, "ana")),
    ("!coc lift 12 3", commands.LiftSuspension(12, 3, "ana")),
    ("!coc recuse 12", commands.Recuse(12, "ana")),
    ("!coc confirm-hurt 12 bo", commands.ConfirmHurt(12, "ana", "bo")),
    ("hello everyone", None),
])
def test_parse_coc(text: str, expected: object) -> None:
    assert mc.parse_coc(text, "ana") == expected


@pytest.mark.parametrize(("text", "message"), [
    ("!coc frobnicate 1", "unknown command"),
    ("!coc take", "which case?"),
    ("!coc take twelve", "not a case number"),
    ("!coc take 0", "1 or more"),
    ("!coc step 12", "which step?"),
    ("!coc step 12 warn --colour red", "unknown option --colour"),
    ("!coc step 12 warn --reason", "--reason needs a value"),
    ("!coc step 12 warn --reason a --reason b", "given twice"),
    ("!coc step 12 warn stray", "unexpected 'stray'"),
    ("!coc consult 12 alice summary", "not a Matrix id"),
    ("!coc consult 12 @alice:example.org", "summary"),
    ("!coc consult 12 --not-possible", "say why"),
    ("!coc resolve 12", "which outcome?"),
    ("!coc retry 12", "which step?"),
    ("!coc handover 12", "to whom?"),
    ("!coc confirm-hurt 12", "who was hurt?"),
])
def test_parse_coc_errors_say_what_to_type(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        mc.parse_coc(text, "ana")


def test_roles() -> None:
    assert mc.needed_role(mc.ShowCase(1)) is Role.OBSERVER
    assert mc.needed_role(commands.TakeCase(1, "ana")) is Role.MODERATOR
    moderator = mc.DeskAdmin("bo", "@bo:x.org", Role.MODERATOR)
    assert moderator.may(Role.MODERATOR) and not moderator.may(Role.ADMIN)


def test_event_links() -> None:
    link = mc.EventLink("!room:example.org", "$ev1")
    assert mc.find_event_link("see https://matrix.to/#/!room:example.org/$ev1?via=example.org") == link
    assert mc.find_event_link("https://matrix.to/#/%21room%3Aexample.org/%24ev1") == link
    assert mc.find_event_link("matrix:roomid/room:example.org/e/ev1") == link
    assert mc.find_event_link("https://matrix.to/#/#lobby:example.org/$ev1") == mc.EventLink(
        "#lobby:example.org", "$ev1")
    assert mc.find_event_link("https://matrix.to/#/@bob:example.org") is None


def test_parse_dm() -> None:
    link = "https://matrix.to/#/!r:x.org/$e"
    assert mc.parse_dm("!reread", BOT) == mc.ConfirmRereadRequest()
    assert mc.parse_dm("I have re-read it.", BOT) == mc.ConfirmRereadRequest()
    assert mc.parse_dm(f"!nudge {link}", BOT) == mc.NudgeRequest(mc.EventLink("!r:x.org", "$e"))
    assert isinstance(mc.parse_dm("!nudge please", BOT), mc.DmHelp)
    assert mc.parse_dm(f"this hurt {link}", BOT) == mc.ReportRequest(
        f"this hurt {link}", mc.EventLink("!r:x.org", "$e"))
    assert mc.parse_dm(f"{BOT} @bob:x.org keeps messaging me", BOT) == mc.ReportRequest(
        f"{BOT} @bob:x.org keeps messaging me", subject="@bob:x.org")
    assert mc.parse_dm("hello", BOT) == mc.DmHelp()


def test_parse_admins() -> None:
    as_list = mc.parse_admins("ana=@ana:x.org, bo=@bo:x.org moderator, cy=@cy:x.org observer")
    as_json = mc.parse_admins('{"ana": "@ana:x.org", "bo": {"id": "@bo:x.org", "role": "moderator"},'
                              ' "cy": "@cy:x.org observer"}')
    assert as_list == as_json
    assert as_list["@bo:x.org"] == mc.DeskAdmin("bo", "@bo:x.org", Role.MODERATOR)
    assert as_list["@ana:x.org"].role is Role.ADMIN
    for bad, message in (("ana", "name=@user"), ("ana=bob", "not a Matrix id"),
                         ("ana=@ana:x.org boss", "role 'boss'"), ("{nope", "not valid JSON")):
        with pytest.raises(InvalidInput, match=message):
            mc.parse_admins(bad)


def test_settings_files_and_secrets(tmp_path: Path) -> None:
    token, admin = tmp_path / "token", tmp_path / "admin"
    token.write_text("syt_tok_value_1\n")
    admin.write_text("syt_adm_value_2")
    settings = MatrixSettings(homeserver="https://hs.example.org/", user_id=BOT,
                              access_token_file=token, admin_token_file=admin,
                              rooms="!a:x.org, #b:x.org", ban_mode=BanMode.LOCK)
    config = MatrixConfig.from_settings(settings)
    assert (config.homeserver, config.access_token, config.admin_token) == (
        "https://hs.example.org", "syt_tok_value_1", "syt_adm_value_2")
    assert config.rooms == ("!a:x.org", "#b:x.org") and config.ban_mode is BanMode.LOCK
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
    with pytest.raises(InvalidInput, match="cannot read"):
        MatrixConfig.from_settings(MatrixSettings(homeserver="https://hs", user_id=BOT,
                                                  password_file=tmp_path / "missing"))


def test_configure_without_settings_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configure(object(), MatrixSettings()) is None  # type: ignore[arg-type]


def test_configure_without_nio_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from conduct_desk.platforms import matrix

    monkeypatch.setattr(matrix, "nio", None)
    with pytest.raises(DeskError, match=r"pip install 'conduct-desk\[matrix\]'"):
        configure(object(), MatrixSettings(homeserver="https://hs", user_id=BOT,  # type: ignore[arg-type]
                                           access_token="t"))


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


# -- the listener's decisions, over fakes (no homeserver) ----------------------------------------

LOBBY, ELSEWHERE = "!lobby:example.org", "!private:example.org"
RILEY, SAM = "@riley:example.org", "@sam:example.org"


class _Cursors:
    prefix = "matrix:"

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        self.values[name] = value


class _Api:
    def __init__(self) -> None:
        self.redacted: list[tuple[str, str]] = []

    def redact(self, room_id: str, event_id: str) -> None:
        self.redacted.append((room_id, event_id))


class _Platform:
    """What the adapter asks of the Matrix platform, recorded."""

    def __init__(self, config: MatrixConfig) -> None:
        self.config, self.cursors, self.api = config, _Cursors(), _Api()
        self.fetched: list[tuple[str, str]] = []
        self.dms: list[tuple[str, str]] = []

    def room_id(self, room: str) -> str:
        return room

    def fetch_message(self, channel: str, message_id: str) -> FetchedMessage:
        self.fetched.append((channel, message_id))
        return FetchedMessage(channel, message_id, "what sam said", mc.person(SAM),
                              mc.permalink(channel, message_id))

    def send_dm(self, person: PersonRef, text: str) -> Effect:
        self.dms.append((person.user_id, text))
        return Effect.done("sent")

    def remember_dm(self, user_id: str, room_id: str) -> None:
        pass


class _Bus:
    def __init__(self) -> None:
        self.handled: list[object] = []

    def handle(self, command: object) -> int:
        self.handled.append(command)
        return 1

    def subscribe(self, *args: object) -> None:
        pass


def _adapter(policy: Policy) -> tuple[MatrixAdapter, _Platform, _Bus]:
    config = MatrixConfig.from_settings(MatrixSettings(
        homeserver="https://hs.example.org", user_id=BOT, access_token="t", rooms=LOBBY))
    platform, bus = _Platform(config), _Bus()
    app = SimpleNamespace(desk=SimpleNamespace(policy=policy, platform_admins={}), bus=bus, uow=None)
    return MatrixAdapter(app, platform), platform, bus  # type: ignore[arg-type]


def _event(room: str, sender: str, kind: str, content: dict[str, object],
           event_id: str = "$ev1") -> _Message:
    return _Message.of(room, {"event_id": event_id, "sender": sender, "type": kind,
                              "content": content})


def _guide(reactions: bool = False) -> Policy:
    text = preset_text("guide")
    return parse_policy(text.replace("reactions = false", f"reactions = {str(reactions).lower()}"))


@pytest.mark.parametrize("ask", ["", "!nudge "])
def test_a_link_by_dm_is_only_opened_in_rooms_the_desk_looks_after(ask: str) -> None:
    adapter, platform, bus = _adapter(_guide())
    dm = "!dm:example.org"
    adapter._on_direct(_event(dm, RILEY, "m.room.message", {
        "msgtype": "m.text", "body": f"{ask}https://matrix.to/#/{ELSEWHERE}/$secret"}))
    assert platform.fetched == [] and bus.handled == []
    assert "does not look after" in platform.dms[-1][1]
    assert "what sam said" not in platform.dms[-1][1]
    adapter._on_direct(_event(dm, RILEY, "m.room.message", {
        "msgtype": "m.text", "body": f"{ask}https://matrix.to/#/{LOBBY}/$said"}, "$ev2"))
    assert platform.fetched == [(LOBBY, "$said")]
    expected = commands.Nudge if ask else commands.FileReport
    assert [type(c) for c in bus.handled] == [expected]


@pytest.mark.parametrize("emoji", ["🚩", "🕊️", "🕊"])
def test_with_the_default_policy_a_reaction_files_nothing_and_nudges_nobody(emoji: str) -> None:
    adapter, platform, bus = _adapter(_guide())
    adapter._on_room_event(_event(LOBBY, RILEY, "m.reaction", {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": "$said", "key": emoji}}))
    assert bus.handled == [] and platform.fetched == [] and platform.dms == []
    assert platform.api.redacted == []  # the bot does not draw more eyes to it either
    adapter, platform, bus = _adapter(_guide(reactions=True))  # the policy turns them on
    adapter._on_room_event(_event(LOBBY, RILEY, "m.reaction", {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": "$said", "key": emoji}}))
    expected = commands.FileReport if emoji == "🚩" else commands.Nudge
    assert [type(c) for c in bus.handled] == [expected]


@pytest.mark.parametrize("said", ["sorry not sorry, someone had to say it",
                                  "Pardon me, but I stand by every word"])
def test_an_apology_after_a_nudge_answers_nothing_by_itself(said: str) -> None:
    adapter, platform, bus = _adapter(_guide())
    adapter._remember_nudge(SAM, LOBBY, "$said")
    adapter._on_room_event(_event(LOBBY, SAM, "m.room.message", {"msgtype": "m.text", "body": said}))
    assert bus.handled == [commands.AuthorWrote(mc.person(SAM), LOBBY, "$said", said)]
    assert not any(isinstance(c, commands.NudgeAnswered) for c in bus.handled)
    assert adapter._nudged(SAM, LOBBY) == ["$said"]  # an edit or a removal still answers it
    adapter._on_room_event(_Message(LOBBY, "$r", SAM, "m.room.redaction", {}, "$said"))
    assert bus.handled[-1] == commands.NudgeAnswered(mc.person(SAM), LOBBY, "$said", "redaction")


def test_the_reporter_says_enough_by_dm() -> None:
    adapter, platform, bus = _adapter(_guide())
    adapter._on_direct(_event("!dm:example.org", RILEY, "m.room.message",
                              {"msgtype": "m.text", "body": "Enough."}))
    assert bus.handled == [commands.NudgeEnough(mc.person(RILEY))]


# -- the management room over a real desk (SQLite), with the homeserver faked ---------------------

MANAGEMENT = "!admins:example.org"
ANA, BO, CY = "@ana:example.org", "@bo:example.org", "@cy:example.org"


class _RoomApi:
    """The management room: what the bot posts there, which every admin in it reads."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str]] = []

    def send(self, room_id: str, content: dict[str, object], event_type: str = "m.room.message") -> str:
        self.posted.append((room_id, str(content.get("body", ""))))
        return f"$posted{len(self.posted)}"

    def joined_members(self, room_id: str) -> set[str]:
        return {BOT, ANA, BO, CY}


class _DeskPlatform(_Platform):
    def __init__(self, config: MatrixConfig) -> None:
        super().__init__(config)
        self.api = _RoomApi()  # type: ignore[assignment]

    @property
    def management_room_id(self) -> str:
        return MANAGEMENT

    def room_texts(self) -> str:
        return "\n".join(text for room, text in self.api.posted if room == MANAGEMENT)

    def dm_texts(self, user_id: str) -> list[str]:
        return [text for who, text in self.dms if who == user_id]


@pytest.fixture
def room(app: App) -> tuple[MatrixAdapter, _DeskPlatform]:
    config = MatrixConfig.from_settings(MatrixSettings(
        homeserver="https://hs.example.org", user_id=BOT, access_token="t", rooms=LOBBY,
        management_room=MANAGEMENT, admins=f"ana={ANA}, bo={BO}, cy={CY} moderator"))
    platform = _DeskPlatform(config)
    return MatrixAdapter(app, platform), platform  # type: ignore[arg-type]


def _type(adapter: MatrixAdapter, sender: str, text: str, n: int = 1) -> None:
    adapter._on_management(_event(MANAGEMENT, sender, "m.room.message",
                                  {"msgtype": "m.text", "body": text}, f"$typed{n}"))


def _file(app: App, reporter: str, *, anonymous: bool, harmed: tuple[str, ...] = ()) -> int:
    return int(app.bus.handle(commands.FileReport(  # type: ignore[union-attr]
        subject=mc.person(SAM), reporter=mc.person(reporter), source=Source.MATRIX,
        anonymous=anonymous, channel=LOBBY, message_id="$said", message_text="go away",
        harmed=tuple(mc.person(h) for h in harmed))).case_id)


@pytest.mark.parametrize("typed", ["!coc take {n}", "!coc show {n}", "!coc step {n} remind",
                                   "!coc resolve {n} no-action", "!coc consult {n} --not-possible x"])
def test_an_anonymous_reporter_who_is_an_admin_is_answered_privately(
        app: App, room: tuple[MatrixAdapter, _DeskPlatform], typed: str) -> None:
    adapter, platform = room
    case_id = _file(app, BO, anonymous=True)
    _type(adapter, BO, typed.format(n=case_id))
    said = platform.room_texts()
    assert "involved" not in said and "step aside" not in said and BO not in said
    assert said.endswith("I've answered you privately.")
    assert "you are involved in case" in platform.dm_texts(BO)[-1]
    # the same line answers any refusal that depends on the case, so it tells the room nothing
    adapter.app.bus.handle(commands.TakeCase(case_id, "ana"))
    _type(adapter, CY, f"!coc take {case_id}", 2)
    assert platform.room_texts().endswith("I've answered you privately.")
    assert "already taken by ana" in platform.dm_texts(CY)[-1]


def test_a_hand_over_to_an_anonymous_reporter_then_their_recusal_stay_private(
        app: App, room: tuple[MatrixAdapter, _DeskPlatform]) -> None:
    adapter, platform = room
    case_id = _file(app, BO, anonymous=True)
    _type(adapter, ANA, f"!coc take {case_id}")
    _type(adapter, ANA, f"!coc handover {case_id} bo", 2)  # refusing would name bo
    assert platform.room_texts().endswith(f"Case {case_id} is bo's now.")
    _type(adapter, BO, f"!coc step {case_id} remind", 3)
    assert f"`!coc recuse {case_id}` frees it" in platform.dm_texts(BO)[-1]
    _type(adapter, BO, f"!coc recuse {case_id}", 4)
    assert "You have stepped aside" in platform.dm_texts(BO)[-1]
    assert "involved" not in platform.room_texts() and "stepped aside" not in platform.room_texts()
    with app.uow() as uow:
        assert uow.cases.get(case_id).taken_by is None
    _type(adapter, CY, f"!coc take {case_id}", 5)
    assert platform.room_texts().endswith(f"Case {case_id} is yours, cy.")


def test_an_admin_named_as_hurt_steps_aside_or_is_confirmed_from_the_room(
        app: App, room: tuple[MatrixAdapter, _DeskPlatform]) -> None:
    adapter, platform = room
    case_id = _file(app, RILEY, anonymous=False, harmed=(ANA, BO))
    _type(adapter, ANA, f"!coc show {case_id}")  # named as hurt, ana may still act
    assert f"!coc confirm-hurt {case_id} bo" in platform.room_texts()
    _type(adapter, ANA, f"!coc recuse {case_id}", 2)
    assert platform.room_texts().endswith("I've answered you privately.")
    assert "You have stepped aside" in platform.dm_texts(ANA)[-1]
    _type(adapter, BO, f"!coc take {case_id}", 3)
    _type(adapter, CY, f"!coc confirm-hurt {case_id} bo", 4)
    assert platform.room_texts().endswith(f"Case {case_id}: {BO} is confirmed as hurt; an admin "
                                          "so confirmed steps aside from it.")
    with app.uow() as uow:
        assert uow.cases.get(case_id).taken_by is None  # bo's hold ended with the confirmation
    _type(adapter, BO, f"!coc step {case_id} remind", 5)
    assert "you are involved in case" in platform.dm_texts(BO)[-1]
    _type(adapter, CY, f"!coc confirm-hurt {case_id} @nobody:example.org", 6)
    assert "is not named as hurt" in platform.dm_texts(CY)[-1]
    _type(adapter, CY, f"!coc confirm-hurt {case_id} cy", 7)
    assert f"type !coc recuse {case_id}" in platform.dm_texts(CY)[-1]
    assert "!coc recuse 12" in mc.HELP and "!coc confirm-hurt 12 bo" in mc.HELP
