"""What the Matrix bot's own tests checked, now the chat desk's behaviour for every chat:
``!coc`` parsing and its refusals, roles, privacy in a shared admins' room, direct messages,
and the peer step's follow-ups. The Matrix transport's contract is in
``tests/unit/test_matrix_transport.py``."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.support.chat import Chat, chat_desk

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.matrix import USER_ID
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import commands
from conduct_desk.service.chat import commands as table
from conduct_desk.service.chat.inputs import (
    ChannelMessage,
    MessageDeleted,
    MessageEdited,
    Reaction,
    ReactionKind,
)
from conduct_desk.service.chat.roster import parse_admins
from conduct_desk.service.ports import CaseFilter

SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")
LOBBY, ELSEWHERE = "lobby", "private"


def _file(app: App, reporter: str, *, anonymous: bool, harmed: tuple[str, ...] = ()) -> int:
    return int(app.bus.handle(commands.FileReport(  # type: ignore[union-attr]
        subject=SAM, reporter=PersonRef("sandbox", reporter), source=Source.CLI,
        anonymous=anonymous, channel=LOBBY, message_id="said", message_text="go away",
        harmed=tuple(PersonRef("sandbox", h) for h in harmed))).case_id)


@pytest.fixture
def room(app: App, sandbox: SandboxPlatform) -> Chat:
    """The admins' room as the Matrix bot's tests had it: ana and bo admins, cy moderator."""
    return chat_desk(app, sandbox, "ana=ana:admin, bo=bo:admin, cy=cy moderator")


def _room_texts(chat: Chat) -> list[str]:
    return chat.t.answers()


# -- parsing: one table, usage in the chat's words ----------------------------------------------

@pytest.mark.parametrize(("text", "verb", "case_id", "rest"), [
    ("", "help", None, ()),
    ("help", "help", None, ()),
    ("list", "list", None, ()),
    ("show 12", "show", 12, ()),
    ("show #12", "show", 12, ()),
    ("take 12", "take", 12, ()),
    ("step 3 suspend --duration 24h --reason he was warned", "step", 3,
     ("suspend", "--duration", "24h", "--reason", "he", "was", "warned")),
    ("hand-over 12 bo", "handover", 12, ("bo",)),
    ("confirm-hurt 12 bo", "confirm-hurt", 12, ("bo",)),
    ("retry 12 3", "retry", 12, ("3",)),
])
def test_parse(text: str, verb: str, case_id: int | None, rest: tuple[str, ...]) -> None:
    parsed = table.parse(text, "!coc", "@someone:server")
    assert (parsed.spec.verb, parsed.case_id, parsed.rest) == (verb, case_id, rest)


def test_options_run_to_the_next_one() -> None:
    assert table.options(("--suggestion", "take", "it", "to", "#random", "--reason", "same"),
                         "u") == {"suggestion": "take it to #random", "reason": "same"}


@pytest.mark.parametrize(("text", "message"), [
    ("frobnicate 1", "unknown command 'frobnicate'; `!coc help` lists them"),
    ("take", "which case? `!coc take 12`"),
    ("take twelve", "not a case number"),
    ("take 0", "1 or more"),
    ("step 1", "which step?"),
    ("step 1 warn --colour red", "unknown option --colour"),
    ("step 1 warn --reason", "--reason needs a value"),
    ("step 1 warn --reason a --reason b", "given twice"),
    ("step 1 warn stray", "unexpected 'stray'"),
    ("consult 1 alice summary", "name the person consulted as @person"),
    ("consult 1 @alice", "`!coc consult 1 @person what they said`"),
    ("resolve 1", "which outcome?"),
    ("retry 1", "which step?"),
    ("handover 1", "to whom?"),
    ("confirm-hurt 1", "who was hurt?"),
])
def test_mistakes_say_what_to_type(chat: Chat, sandbox: SandboxPlatform, text: str,
                                   message: str) -> None:
    _file(chat.app, "riley", anonymous=False)
    answer = chat.coc("ana", text)
    assert answer.startswith("Not done:") and message in answer, answer
    assert "conduct " not in answer  # chat words, never the command line's


def test_help_is_the_table_in_the_chats_words(chat: Chat) -> None:
    text = chat.coc("riley", "help")  # anyone may ask
    assert "!coc recuse 12" in text and "!coc confirm-hurt 12 @person" in text
    assert text == chat.desk.help_text()


# -- who may do what -----------------------------------------------------------------------------

def test_someone_not_listed_is_told_which_setting_lists_admins(chat: Chat) -> None:
    answer = chat.coc("riley", "list")
    assert "only the desk's admins" in answer and "CONDUCT_CHAT_ADMINS" in answer


def test_roles_observers_read_moderators_act_admins_ban(chat: Chat) -> None:
    case_id = _file(chat.app, "riley", anonymous=False)
    assert "Open cases" in chat.coc("cy", "list")  # cy is an observer
    assert "can read cases but not change them" in chat.coc("cy", f"take {case_id}")
    assert "is yours" in chat.coc("bo", f"take {case_id}")  # bo is a moderator
    chat.coc("bo", f"consult {case_id} none they asked not to be contacted")
    assert "a ban needs the admin role" in chat.coc("bo", f"step {case_id} ban")


def test_matrix_admins_default_to_moderator_and_say_admin_for_a_ban() -> None:
    admins = parse_admins("matrix", "ana=@ana:x.org admin, bo=@bo:x.org, cy=@cy:x.org:observer",
                          "CONDUCT_MATRIX_ADMINS", valid_id=USER_ID)
    as_json = parse_admins("matrix", '{"ana": "@ana:x.org admin", "bo": "@bo:x.org", '
                           '"cy": {"id": "@cy:x.org", "role": "observer"}}',
                           "CONDUCT_MATRIX_ADMINS", valid_id=USER_ID)
    assert admins == as_json
    assert [(a.name, a.role) for a in admins.values()] == [
        ("ana", Role.ADMIN), ("bo", Role.MODERATOR), ("cy", Role.OBSERVER)]
    assert parse_admins("matrix", "@dee:x.org:8448", "V", valid_id=USER_ID)[
        "@dee:x.org:8448"].name == "matrix:@dee:x.org:8448"
    for bad, message in (("ana=bob", "not a matrix user id"), ("ana=@ana:x.org boss",
                                                               "not a matrix user id"),
                         ("{nope", "not valid JSON"), ("admin", "follows no admin")):
        with pytest.raises(InvalidInput, match=message):
            parse_admins("matrix", bad, "CONDUCT_MATRIX_ADMINS", valid_id=USER_ID)


# -- a shared admins' room: what depends on a case is answered privately -------------------------

@pytest.mark.parametrize("typed", ["take {n}", "show {n}", "step {n} remind",
                                   "resolve {n} no-action", "consult {n} none x"])
def test_an_anonymous_reporter_who_is_an_admin_is_answered_privately(room: Chat,
                                                                     typed: str) -> None:
    case_id = _file(room.app, "bo", anonymous=True)
    room.coc("bo", typed.format(n=case_id))
    said = "\n".join(_room_texts(room))
    assert "involved" not in said and "step aside" not in said and "bo" not in said
    assert said.endswith("I've answered you privately.")
    assert "you are involved in case" in room.t.to("bo")[-1]
    # the same line answers any refusal that depends on the case, so it tells the room nothing
    room.app.bus.handle(commands.TakeCase(case_id, "ana"))
    room.coc("cy", f"take {case_id}")
    assert _room_texts(room)[-1] == "I've answered you privately."
    assert "already taken by ana" in room.t.to("cy")[-1]


def test_a_hand_over_to_an_anonymous_reporter_then_their_recusal_stay_private(room: Chat) -> None:
    case_id = _file(room.app, "bo", anonymous=True)
    room.coc("ana", f"take {case_id}")
    room.coc("ana", f"handover {case_id} bo")  # refusing would name bo
    assert _room_texts(room)[-1] == f"Case {case_id} is bo's now."
    room.coc("bo", f"step {case_id} remind")
    assert f"`!coc recuse {case_id}`" in room.t.to("bo")[-1]
    room.coc("bo", f"recuse {case_id}")
    assert "You have stepped aside" in room.t.to("bo")[-1]
    said = "\n".join(_room_texts(room))
    assert "involved" not in said and "stepped aside" not in said
    with room.app.uow() as uow:
        assert uow.cases.get(case_id).taken_by is None
    room.coc("cy", f"take {case_id}")
    assert _room_texts(room)[-1] == f"Case {case_id} is yours, cy."


def test_an_admin_named_as_hurt_steps_aside_or_is_confirmed_from_the_room(room: Chat) -> None:
    case_id = _file(room.app, "riley", anonymous=False, harmed=("ana", "bo"))
    assert f"!coc confirm-hurt {case_id}" in room.coc("ana", f"show {case_id}")
    room.coc("ana", f"recuse {case_id}")
    assert _room_texts(room)[-1] == "I've answered you privately."
    assert "You have stepped aside" in room.t.to("ana")[-1]
    room.coc("bo", f"take {case_id}")
    answer = room.coc("cy", f"confirm-hurt {case_id} @bo")
    assert answer == (f"Case {case_id}: bo is confirmed as hurt; an admin so confirmed steps "
                      "aside from it.")
    with room.app.uow() as uow:
        assert uow.cases.get(case_id).taken_by is None  # bo's hold ended with the confirmation
    room.coc("bo", f"step {case_id} remind")
    assert "you are involved in case" in room.t.to("bo")[-1]
    assert "is not named as hurt" in room.coc("cy", f"confirm-hurt {case_id} @nobody")
    assert f"`!coc recuse {case_id}`" in room.coc("cy", f"confirm-hurt {case_id} cy")


def test_a_hand_over_to_someone_who_is_no_admin_names_them(room: Chat) -> None:
    room.t.names["sam"] = "Sam Doe"
    case_id = _file(room.app, "riley", anonymous=False)
    room.coc("ana", f"take {case_id}")
    answer = room.coc("ana", f"handover {case_id} @sam")
    assert "Sam Doe is not one of the desk's admins" in answer, answer
    assert "CONDUCT_CHAT_ADMINS" in answer and "conduct admin" not in answer


# -- direct messages -----------------------------------------------------------------------------

def test_direct_messages_report_nudge_confirm_and_help(chat: Chat) -> None:
    chat.sandbox.add_message(LOBBY, "said", "people like you can't code", SAM)
    chat.dm("riley", "this hurt sandbox://lobby/said")
    assert any("admins" in (c.text or "") for c in chat.sandbox.to(RILEY))  # thanked
    assert any("written to them privately" in t
               for t in chat.dm("jo", "!nudge sandbox://lobby/said"))
    assert any("send `nudge` and a link" in t for t in chat.dm("jo", "!nudge please"))
    assert chat.dm("riley", "!help") == [chat.desk.dm_help]
    assert any("no warning waiting" in t for t in chat.dm("sam", "!reread"))
    assert any("no warning waiting" in t for t in chat.dm("sam", "I have re-read it."))
    chat.dm("riley", "@sam keeps messaging me")
    with chat.app.uow() as uow:
        subjects = [s.subject.user_id for s in uow.cases.summaries(CaseFilter())]
    assert subjects == ["sam", "sam"]


def test_a_link_by_dm_is_only_opened_in_rooms_the_desk_looks_after(chat: Chat) -> None:
    chat.t.looked_after.add(LOBBY)
    chat.sandbox.add_message(ELSEWHERE, "secret", "what sam said", SAM)
    for ask in ("", "!nudge "):
        said = chat.dm("riley", f"{ask}sandbox://{ELSEWHERE}/secret")
        assert "does not look after" in said[-1] and "what sam said" not in said[-1]
    assert not [c for c in chat.sandbox.calls if c.method == "fetch_message"]
    with chat.app.uow() as uow:
        assert uow.cases.count(CaseFilter()) == 0


def test_the_reporter_says_enough_by_dm(chat: Chat) -> None:
    assert any("Nothing of yours is waiting" in t for t in chat.dm("riley", "Enough."))


# -- reactions and the peer step's follow-ups ----------------------------------------------------

@pytest.mark.parametrize("kind", [ReactionKind.REPORT, ReactionKind.NUDGE])
def test_with_the_default_policy_a_reaction_files_nothing_and_nudges_nobody(
        chat: Chat, policy: Policy, kind: ReactionKind) -> None:
    chat.sandbox.add_message(LOBBY, "said", "go away", SAM)
    assert not chat.desk.takes_reactions
    chat.desk.handle(Reaction("riley", LOBBY, "said", kind))
    assert chat.t.said == [] and chat.sandbox.to(SAM) == []
    chat.app.desk.policy = replace(policy, reactions=True)
    assert chat.desk.takes_reactions
    chat.desk.handle(Reaction("riley", LOBBY, "said", kind))
    with chat.app.uow() as uow:
        cases = uow.cases.count(CaseFilter())
    assert cases == (1 if kind is ReactionKind.REPORT else 0)
    assert bool(chat.sandbox.to(SAM)) is (kind is ReactionKind.NUDGE)


def _nudged(chat: Chat) -> None:
    chat.sandbox.add_message(LOBBY, "said", "only idiots use that editor", SAM)
    chat.dm("riley", "nudge sandbox://lobby/said")
    assert chat.desk.watches(LOBBY, "said", author="sam")


@pytest.mark.parametrize("said", ["sorry not sorry, someone had to say it",
                                  "Pardon me, but I stand by every word"])
def test_an_apology_after_a_nudge_answers_nothing_by_itself(chat: Chat, said: str) -> None:
    _nudged(chat)
    chat.desk.handle(ChannelMessage("sam", LOBBY, "next", said))
    assert any(said in (c.text or "") for c in chat.sandbox.to(RILEY))  # the reporter reads it
    assert chat.desk.watches(LOBBY, "said")  # an edit or a removal still answers it
    chat.desk.handle(MessageDeleted(LOBBY, "said", "sam"))
    assert not chat.desk.watches(LOBBY, "said")
    assert chat.t.to("sam")[-1] == "Thank you — that's all that was needed."


def test_only_the_author_answers_a_nudge(chat: Chat) -> None:
    """Matrix lets anyone send an edit event about any message, and a moderator may remove
    it: neither is the author making it right."""
    _nudged(chat)
    chat.desk.handle(MessageEdited("riley", LOBBY, "said"))
    chat.desk.handle(MessageDeleted(LOBBY, "said", "ana"))
    assert chat.desk.watches(LOBBY, "said")
    chat.desk.handle(MessageEdited("sam", LOBBY, "said"))
    assert not chat.desk.watches(LOBBY, "said")
