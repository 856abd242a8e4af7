"""Admin commands in any chat: one table, one permission rule, chat words (memory transport)."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.chat import Chat

from conduct_desk.domain.model import CaseState, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import views
from conduct_desk.service.chat.commands import TABLE
from conduct_desk.service.chat.inputs import CommandTyped

SAM = PersonRef("sandbox", "sam")
CLI_WORDS = re.compile(r"conduct case|--admin|conduct admin")


def report(chat: Chat, subject: str = "sam", reporter: str = "riley") -> int:
    chat.sandbox.add_message("general", f"m-{subject}", "people like you can't code",
                             PersonRef("sandbox", subject))
    chat.dm(reporter, f"sandbox://general/m-{subject}")
    with chat.app.uow() as uow:
        return max(s.id for s in uow.cases.summaries(views.CaseFilter()))


def case(chat: Chat, case_id: int) -> views.CaseDetail:
    return views.case_detail(chat.app.uow(), chat.app.desk, case_id)


def test_help_lists_every_command_of_the_one_table_with_this_chats_prefix(chat: Chat) -> None:
    text = chat.coc("cy", "help")
    for spec in TABLE:
        assert f"!coc {spec.verb}" in text


def test_an_unknown_command_says_where_the_list_is(chat: Chat) -> None:
    assert "`!coc help`" in chat.coc("ana", "frobnicate 1")


def test_someone_not_on_the_list_is_told_who_can_add_them(chat: Chat) -> None:
    case_id = report(chat)
    answer = chat.coc("zed", f"take {case_id}")
    assert "CONDUCT_CHAT_ADMINS" in answer and "zed" in answer
    assert case(chat, case_id).case.taken_by is None


def test_observers_read_but_do_not_act(chat: Chat) -> None:
    case_id = report(chat)
    assert "sam" in chat.coc("cy", "list")
    assert "Not done" in chat.coc("cy", f"take {case_id}")
    assert case(chat, case_id).case.taken_by is None


def test_a_moderator_cannot_ban_an_admin_can(chat: Chat) -> None:
    case_id = report(chat)
    refused = chat.coc("bo", f"step {case_id} ban --reason flagrant")
    assert "admin role" in refused
    chat.coc("ana", f"consult {case_id} @riley they want it to stop")
    done = chat.coc("ana", f"step {case_id} ban --reason flagrant")
    assert "(ban)" in done, done
    assert SAM in chat.sandbox.banned


def test_the_actor_is_recorded_by_name_and_named_in_answers(chat: Chat) -> None:
    case_id = report(chat)
    assert chat.coc("bo", f"take {case_id}") == f"Case {case_id} is yours, bo."
    assert case(chat, case_id).case.taken_by == "bo"


def test_a_web_accounts_name_is_recorded_for_its_platform_identity(chat: Chat) -> None:
    from tests.support.accounts import add_admins

    from conduct_desk.domain.accounts import Role

    add_admins(chat.app, "Dana Web", role=Role.MODERATOR)
    with chat.app.uow() as uow:
        account = uow.accounts.admin_by_name("Dana Web")
        assert account is not None
        uow.accounts.save_admin(dataclasses.replace(account, identities=("sandbox:dana",)))
        uow.commit()
    case_id = report(chat)
    chat.coc("dana", f"take {case_id}")
    assert case(chat, case_id).case.taken_by == "Dana Web"


def test_a_ban_before_consulting_the_hurt_is_answered_in_chat_words(chat: Chat) -> None:
    case_id = report(chat)
    answer = chat.coc("ana", f"step {case_id} ban --reason flagrant")
    assert f"`!coc consult {case_id} @person what they said`" in answer
    assert not CLI_WORDS.search(answer)


def test_acting_on_a_resolved_case_says_how_to_reopen_it_here(chat: Chat) -> None:
    case_id = report(chat)
    assert "resolved" in chat.coc("ana", f"resolve {case_id} no-action it was a quote")
    answer = chat.coc("ana", f"take {case_id}")
    assert f"`!coc reopen {case_id}`" in answer and not CLI_WORDS.search(answer)
    assert "reopened" in chat.coc("ana", f"reopen {case_id}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(verb=st.sampled_from([s.verb for s in TABLE] + ["hand-over", "x"]),
       args=st.lists(st.sampled_from(["1", "2", "0", "-3", "abc", "@sam", "@ana", "warn", "ban",
                                      "--reason", "why", "--duration", "99d", "none", "#1",
                                      "steps-taken", "2h"]), max_size=5),
       who=st.sampled_from(["ana", "bo", "cy", "zed", "sam"]))
def test_no_command_answer_speaks_the_command_lines_words(chat: Chat, verb: str, args: list[str],
                                                          who: str) -> None:
    """Whatever is typed, by whoever, the answers are in chat words and never fail loudly."""
    if not chat.t.cards:
        report(chat)
    answer = chat.coc(who, " ".join([verb, *args]))
    assert answer
    assert not CLI_WORDS.search(answer), answer


def test_every_rung_through_chat_commands(chat: Chat) -> None:
    """remind, suggest, remove, warn (and the re-read), suspend, ban: each said back truthfully."""
    case_id = report(chat)
    chat.coc("ana", f"take {case_id}")
    for rung, extra in (("remind", ""), ("suggest", " --suggestion try #offtopic"),
                        ("remove", " --reason again"), ("warn", " --reason again"),
                        ("suspend", " --duration 12h --reason again")):
        answer = chat.coc("ana", f"step {case_id} {rung}{extra}")
        assert f"({rung}): done" in answer, answer
    assert SAM in chat.sandbox.suspended
    said = chat.dm("sam", "!reread")
    assert "admins can see" in said[-1]
    chat.coc("ana", f"consult {case_id} none they asked not to be contacted")
    assert "(ban): done" in chat.coc("ana", f"step {case_id} ban --reason again")
    steps = case(chat, case_id).case.steps
    assert [s.rung for s in steps] == ["remind", "suggest", "remove", "warn", "suspend", "ban"]
    assert all(s.status is StepStatus.DONE for s in steps)


def test_a_failed_step_is_said_as_failed_and_retry_tries_again(chat: Chat) -> None:
    case_id = report(chat)
    chat.sandbox.fail_next("send_dm", "the platform refused", retryable=False)
    answer = chat.coc("ana", f"step {case_id} warn --reason again")
    assert "failed" in answer and f"`!coc retry {case_id} 1`" in answer
    assert "done" in chat.coc("ana", f"retry {case_id} 1")


def test_resolve_tells_the_admin_the_reporters_are_told(chat: Chat) -> None:
    case_id = report(chat)
    chat.coc("ana", f"step {case_id} remind")
    answer = chat.coc("ana", f"resolve {case_id} steps-taken")
    assert f"Case {case_id} resolved" in answer and "told" in answer
    assert case(chat, case_id).case.state is CaseState.RESOLVED


def test_report_command_files_for_anyone(chat: Chat) -> None:
    assert "The admins have it" in chat.coc("riley", "report @sam mocked me in #general",
                                            room=None)
    assert "say who" in chat.coc("riley", "report nobody", room=None)


def test_a_command_answer_in_a_shared_room_replies_to_the_command(chat: Chat) -> None:
    chat.desk.handle(CommandTyped("ana", "list", room="admins", message_id="ev1"))
    assert chat.t.said[-1].kind == "answer" and chat.t.said[-1].reply_to == "ev1"


def test_texts_to_the_subject_name_them_and_the_admin_by_their_names(chat: Chat) -> None:
    from tests.support.chat import chat_desk

    chat = chat_desk(chat.app, chat.sandbox, admins="ana=ana:admin, dana:admin",
                     transport=chat.t)
    chat.t.names.update({"sam": "Sam Doe", "dana": "Dana"})
    chat.t.channels["general"] = "#general"
    case_id = report(chat)
    chat.coc("dana", f"step {case_id} remind")
    [reminder] = [c.text or "" for c in chat.sandbox.calls if c.method == "post_reply"]
    assert "Sam Doe" in reminder and "I'm Dana" in reminder and "#general" in reminder
    assert "sandbox:dana" not in reminder and "Hi sam" not in reminder


def test_lift_of_a_removal_lets_them_back_in_and_only_once(chat: Chat) -> None:
    case_id = report(chat)
    chat.coc("ana", f"step {case_id} remove --reason again")
    assert "removal lifted" in chat.coc("ana", f"lift {case_id} 1")
    assert [c.method for c in chat.sandbox.calls if c.method == "readmit"] == ["readmit"]
    assert "Not done" in chat.coc("ana", f"lift {case_id} 1")
    assert case(chat, case_id).case.steps[-1].rung == "restore"


def test_a_step_done_by_hand_is_said_done(chat: Chat) -> None:
    case_id = report(chat)
    chat.sandbox.fail_next("send_dm", "refused", retryable=False)
    chat.coc("ana", f"step {case_id} warn --reason again")
    answer = chat.coc("ana", f"done {case_id} 1")
    assert "marked done by hand" in answer and "waiting" not in answer
