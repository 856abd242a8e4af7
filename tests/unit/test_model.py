from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conduct_desk.config import preset_text
from conduct_desk.domain.errors import ConsultationNeeded, Hint, IllegalTransition, InvalidInput, Recused
from conduct_desk.domain.ladder import PastStep, recommend
from conduct_desk.domain.model import Case, CaseState, Consultation, Outcome, Report, Source, Step
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action, parse_policy
from conduct_desk.service.ports import CaseSummary
from conduct_desk.service.views import deadline_of

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SAM, RILEY, JO = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley"), PersonRef("sandbox", "jo")
POLICY = parse_policy(preset_text("guide"), "guide")


def make_case(flagrant: bool = False) -> Case:
    case = Case(subject=SAM, opened_at=NOW, channel="#general", message_id="m1", id=12)
    case.add_report(Report(subject=SAM, reporter=RILEY, filed_at=NOW, source=Source.CLI,
                           harmed=(JO,), flagrant=flagrant, id=1))
    return case


def step(rung: str, action: Action, actor: str = "ana", at: datetime = NOW) -> Step:
    return Step(rung=rung, action=action, actor=actor, recorded_at=at, text="t", id=None)


def test_states_move_new_taken_acting_resolved_and_reopen() -> None:
    case = make_case()
    assert case.state is CaseState.NEW
    case.take("ana", NOW)
    assert case.state is CaseState.TAKEN
    case.record_step(step("remind", Action.REMIND), ban_needs_consultation=True)
    assert case.state is CaseState.ACTING and case.first_step_at == NOW
    case.resolve("ana", Outcome.STEPS_TAKEN, NOW, None)
    assert case.state is CaseState.RESOLVED
    with pytest.raises(IllegalTransition, match="already resolved"):
        case.resolve("ana", Outcome.STEPS_TAKEN, NOW, None)
    with pytest.raises(IllegalTransition, match="reopen it"):
        case.take("bo", NOW)
    with pytest.raises(IllegalTransition, match="only they, or an admin with the admin role"):
        case.reopen("bo", NOW)  # a moderator: only ana, who held it, reopens it
    case.reopen("bo", NOW, may_reassign=True)
    assert case.state is CaseState.ACTING and case.taken_by == "bo" and case.outcome is None


def test_illegal_transitions_say_what_to_do() -> None:
    case = make_case()
    with pytest.raises(IllegalTransition, match="not resolved; nothing to reopen"):
        case.reopen("ana", NOW)
    case.take("ana", NOW)
    with pytest.raises(IllegalTransition, match="already taken by ana"):
        case.take("bo", NOW)
    with pytest.raises(IllegalTransition, match="no steps yet"):
        case.resolve("ana", Outcome.STEPS_TAKEN, NOW, None)
    with pytest.raises(InvalidInput, match="needs --reason"):
        case.resolve("ana", Outcome.NO_ACTION, NOW, " ")


def test_apologized_without_a_step_says_where_the_apology_was_made() -> None:
    case = make_case()
    case.take("ana", NOW)
    for reason in (None, "  "):
        with pytest.raises(InvalidInput, match="needs --reason saying where the apology was made") \
                as caught:
            case.resolve("ana", Outcome.APOLOGIZED, NOW, reason)
        assert caught.value.field == "reason" and caught.value.hint == Hint("resolve", 12)
        assert "--" not in caught.value.problem and "where the apology was made" in caught.value.problem
    assert case.is_open and case.outcome is None
    case.resolve("ana", Outcome.APOLOGIZED, NOW, "in #general, to everyone")
    assert case.outcome is Outcome.APOLOGIZED and case.outcome_reason == "in #general, to everyone"


def test_apologized_after_a_step_needs_no_note() -> None:
    case = make_case()
    case.take("ana", NOW)
    case.record_step(step("remind", Action.REMIND), ban_needs_consultation=True)
    case.resolve("ana", Outcome.APOLOGIZED, NOW, None)
    assert case.outcome is Outcome.APOLOGIZED


@pytest.mark.parametrize("admin", ["sam", "sandbox:riley"])
def test_people_involved_are_recused(admin: str) -> None:
    case = make_case()
    with pytest.raises(Recused, match="must step aside"):
        case.take(admin, NOW)
    with pytest.raises(Recused):
        case.record_step(step("remind", Action.REMIND, actor=admin), ban_needs_consultation=True)


def test_ban_waits_for_consultation_when_policy_says_so() -> None:
    case = make_case()
    with pytest.raises(ConsultationNeeded, match="consult"):
        case.record_step(step("ban", Action.BAN), ban_needs_consultation=True)
    case.consult(Consultation("ana", NOW, "no one could be reached", None))
    case.record_step(step("ban", Action.BAN), ban_needs_consultation=True)
    assert case.steps[-1].action is Action.BAN


def test_consultation_is_not_with_the_subject() -> None:
    with pytest.raises(InvalidInput, match="not with the subject"):
        make_case().consult(Consultation("ana", NOW, "x", SAM))


def test_engine_starts_at_first_rung() -> None:
    rec = recommend(make_case(), [], POLICY, NOW)
    assert rec.rung.name == "remind"
    assert rec.reason == "no steps in the last 90d, so first: remind"


def test_engine_climbs_from_history_in_other_cases() -> None:
    history = [PastStep(3, "remind", Action.REMIND, NOW - timedelta(days=10)),
               PastStep(12 - 1, "warn", Action.WARN, NOW - timedelta(days=3))]
    rec = recommend(make_case(), history, POLICY, NOW)
    assert rec.rung.name == "suspend"
    assert rec.reason == "warned 3 days ago in case 11, so next: suspend"


def test_engine_forgets_outside_the_window() -> None:
    history = [PastStep(3, "suspend", Action.SUSPEND, NOW - timedelta(days=120))]
    rec = recommend(make_case(), history, POLICY, NOW)
    assert rec.rung.name == "remind"
    assert "outside the 90d window" in rec.reason


def test_flagrant_recommends_ban_at_once() -> None:
    rec = recommend(make_case(flagrant=True), [], POLICY, NOW)
    assert rec.rung.name == "ban" and "flagrant" in rec.reason


def test_engine_stays_at_the_top() -> None:
    rec = recommend(make_case(), [PastStep(12, "ban", Action.BAN, NOW)], POLICY, NOW)
    assert rec.rung.name == "ban" and "last step" in rec.reason


def test_restore_does_not_count_as_a_rung() -> None:
    history = [PastStep(12, "suspend", Action.SUSPEND, NOW - timedelta(days=2)),
               PastStep(12, "restore", Action.RESTORE, NOW - timedelta(days=1))]
    assert recommend(make_case(), history, POLICY, NOW).rung.name == "ban"


def test_person_parsing() -> None:
    assert PersonRef.parse("slack:U123") == PersonRef("slack", "U123")
    assert PersonRef.parse("alice") == PersonRef("sandbox", "alice")
    assert PersonRef.parse("matrix:@al:example.org") == PersonRef("matrix", "@al:example.org")
    assert PersonRef.parse("@al:example.org", "matrix") == PersonRef("matrix", "@al:example.org")
    with pytest.raises(InvalidInput):
        PersonRef.parse("  ")


@pytest.mark.parametrize(("taken_by", "first_step", "state", "hours", "expected"), [
    (None, None, CaseState.NEW, 1, "on time"),
    (None, None, CaseState.NEW, 3.5, "due soon"),
    (None, None, CaseState.NEW, 4, "overdue"),
    ("ana", None, CaseState.TAKEN, 7, "due soon"),
    ("ana", None, CaseState.TAKEN, 9, "overdue"),
    ("ana", NOW, CaseState.ACTING, 30, "met"),
    (None, None, CaseState.RESOLVED, 30, "met"),
])
def test_a_summary_has_the_deadline_of_its_case(taken_by: str | None, first_step: datetime | None,
                                                state: CaseState, hours: float,
                                                expected: str) -> None:
    # the queue reads deadlines from summaries without building cases: both must agree
    take_due, step_due = NOW + timedelta(hours=4), NOW + timedelta(hours=8)
    case = Case(subject=SAM, opened_at=NOW, state=state, taken_by=taken_by,
                first_step_at=first_step, take_due_at=take_due, step_due_at=step_due)
    summary = CaseSummary(id=1, subject=SAM, state=state, opened_at=NOW, taken_by=taken_by,
                          first_step_at=first_step, flagrant=False, hurt=0, reports=1,
                          last_step=None, outcome=None, take_due_at=take_due,
                          step_due_at=step_due)
    now = NOW + timedelta(hours=hours)
    assert deadline_of(summary, now) == (case.due_at, case.deadline_state(now))
    assert case.deadline_state(now).value == expected


def test_a_case_is_handed_over_by_its_holder_or_by_someone_allowed_to_reassign() -> None:
    case = make_case()
    case.hand_over("ana", "bo", NOW, may_reassign=False)  # a new case: given to bo
    assert case.state is CaseState.TAKEN and case.taken_by == "bo"
    with pytest.raises(IllegalTransition, match="only they, or an admin with the admin role"):
        case.hand_over("ana", "cy", NOW, may_reassign=False)
    case.hand_over("bo", "cy", NOW, may_reassign=False)  # the holder passes it on
    case.hand_over("ana", "dee", NOW, may_reassign=True)  # cy is away; an admin reassigns
    assert case.taken_by == "dee" and [e.admin for e in case.events] == ["bo", "cy", "dee"]
    with pytest.raises(IllegalTransition, match="already dee's"):
        case.hand_over("dee", "dee", NOW, may_reassign=False)
    case.confirm_hurt("dee", JO, NOW)
    with pytest.raises(Recused, match="jo is involved in case 12 and cannot take it over"):
        case.hand_over("dee", "jo", NOW, may_reassign=False)  # jo was hurt, as dee confirmed
    with pytest.raises(Recused):
        case.hand_over("sam", "ana", NOW, may_reassign=True)  # the subject cannot reassign it
    with pytest.raises(Recused, match="ria is involved"):  # ria's platform account reported it
        case.hand_over("dee", "ria", NOW, may_reassign=False, to_aliases=("sandbox:riley",))
    case.record_step(step("remind", Action.REMIND, actor="dee"), ban_needs_consultation=True)
    case.resolve("dee", Outcome.STEPS_TAKEN, NOW, None)
    with pytest.raises(IllegalTransition, match="reopen it first"):
        case.hand_over("dee", "ana", NOW, may_reassign=True)


# -- issue 8: naming admins as hurt, holders, anonymity of a hand-over ------------------------


def hurt_everyone_case() -> Case:
    """A second reporter (or an observer's token) joins naming every admin as hurt."""
    case = make_case()
    case.add_report(Report(subject=SAM, reporter=PersonRef("sandbox", "mallory"), filed_at=NOW,
                           source=Source.API, harmed=tuple(PersonRef("web", n) for n in
                                                           ("ana", "bo", "cy")), id=2))
    return case


def test_naming_every_admin_as_hurt_locks_nobody_out() -> None:
    case = hurt_everyone_case()
    for admin in ("ana", "bo", "cy"):
        assert not case.involves(admin) and case.named_as_hurt(admin)
    case.take("ana", NOW)
    case.record_step(step("remind", Action.REMIND), ban_needs_consultation=True)
    assert case.taken_by == "ana"


def test_a_named_admin_steps_aside_by_choice_or_when_another_confirms() -> None:
    case = hurt_everyone_case()
    case.take("bo", NOW)
    assert case.recuse("bo", NOW, ("slack:U2",)) is True  # bo held it: the case is free again
    assert case.taken_by is None and case.state is CaseState.NEW
    with pytest.raises(Recused):
        case.take("slack:U2", NOW)  # bo's other names step aside too
    with pytest.raises(InvalidInput, match="recuse"):
        case.confirm_hurt("cy", PersonRef("web", "cy"), NOW)  # oneself: step aside instead
    case.confirm_hurt("ana", PersonRef("sandbox", "cy"), NOW)  # as written: cy
    assert case.involves("cy") and not case.named_as_hurt("cy")
    with pytest.raises(Recused):
        case.take("cy", NOW)
    with pytest.raises(InvalidInput, match="not named as hurt"):
        case.confirm_hurt("ana", PersonRef("web", "dee"), NOW)
    with pytest.raises(Recused):  # a recused admin confirms nothing
        case.confirm_hurt("bo", PersonRef("web", "ana"), NOW)


def test_only_the_holder_or_an_admin_resolves() -> None:
    case = make_case()
    case.take("ana", NOW)
    with pytest.raises(IllegalTransition, match="case 12 is ana's; only they, or an admin"):
        case.resolve("bo", Outcome.APOLOGIZED, NOW, None)  # bo, a moderator
    assert case.is_open and not case.events[1:]
    case.resolve("cy", Outcome.APOLOGIZED, NOW, "in the thread",
                 may_reassign=True)  # cy has the admin role
    assert not case.is_open
    untaken = make_case()
    untaken.resolve("bo", Outcome.APOLOGIZED, NOW, "in the thread")  # nobody's: it becomes bo's
    assert untaken.taken_by == "bo"
    untaken.reopen("bo", NOW)  # the former holder reopens it


def anonymous_case() -> Case:
    case = Case(subject=SAM, opened_at=NOW, id=7)
    case.add_report(Report(subject=SAM, reporter=PersonRef("web", "bo"), anonymous=True,
                           filed_at=NOW, source=Source.API, id=1))
    return case


def test_handing_a_case_to_an_anonymous_reporter_looks_like_any_hand_over() -> None:
    case = anonymous_case()
    case.take("ana", NOW)
    case.hand_over("ana", "bo", NOW, may_reassign=False)  # refusing would name the reporter
    assert case.taken_by == "bo"
    with pytest.raises(Recused, match="recuse 7 --admin bo") as refused:
        case.take("bo", NOW)  # bo alone learns it, and how to step aside
    assert refused.value.holds_case == 7
    assert case.recuse("bo", NOW) and case.taken_by is None
