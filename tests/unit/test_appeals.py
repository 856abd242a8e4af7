"""Appeals in the domain: who may decide, what stops counting, and the policy's deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conduct_desk.config import preset_text
from conduct_desk.domain import events
from conduct_desk.domain.errors import IllegalTransition, InvalidInput, InvalidPolicy, Recused
from conduct_desk.domain.ladder import case_history, recommend
from conduct_desk.domain.model import AppealDecision, Case, Report, Source, Step, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action, parse_policy

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")
POLICY = parse_policy(preset_text("guide"), "guide")


def _case(*rungs: str, by: str = "ana") -> Case:
    case = Case(subject=SAM, opened_at=NOW, id=7)
    case.reports.append(Report(subject=SAM, reporter=RILEY, filed_at=NOW, source=Source.CLI))
    for i, name in enumerate(rungs):
        rung = POLICY.rung(name)
        case.steps.append(Step(rung=name, action=rung.action, actor=by,
                               recorded_at=NOW + timedelta(minutes=i), text="...",
                               status=StepStatus.DONE, id=i + 1))
    return case


def _appealed(*rungs: str, by: str = "ana") -> Case:
    case = _case(*rungs, by=by)
    case.file_appeal(SAM, "I was quoting a film.", NOW + timedelta(hours=1),
                     NOW + timedelta(days=7))
    return case


def test_the_ladder_does_not_count_an_overturned_step() -> None:
    case = _appealed("remind", "warn", "suspend")
    assert recommend(case, case_history(case), POLICY, NOW).rung.name == "ban"
    case.decide_appeal(("bo",), AppealDecision.OVERTURNED, "set aside", NOW + timedelta(hours=2))
    later = NOW + timedelta(hours=3)
    assert [p.rung for p in case_history(case)] == ["remind", "warn"]
    assert recommend(case, case_history(case), POLICY, later).rung.name == "suspend"
    assert not case.step(3).counts and case.step(3).overturned_at is not None


def test_a_changed_step_counts_as_the_rung_that_replaced_it() -> None:
    case = _appealed("remind", "ban")
    warn = Step(rung="warn", action=Action.WARN, actor="bo", recorded_at=NOW + timedelta(hours=2),
                text="changed", status=StepStatus.DONE)
    case.decide_appeal(("bo",), AppealDecision.CHANGED, "changed", NOW + timedelta(hours=2), warn)
    assert [p.rung for p in case_history(case)] == ["remind", "warn"]
    assert recommend(case, case_history(case), POLICY,
                     NOW + timedelta(hours=3)).rung.name == "suspend"


def test_the_admin_who_took_the_step_may_not_decide_its_appeal() -> None:
    case = _appealed("remind", "suspend", by="ana")
    with pytest.raises(Recused, match="ana took the step under appeal .suspend., so another "
                                      "admin decides the appeal"):
        case.decide_appeal(("ana",), AppealDecision.UPHELD, "stands", NOW)
    # by any of their names (a platform identity recorded as the step's actor)
    case.step(2).actor = "sandbox:ana"
    with pytest.raises(Recused):
        case.check_may_decide_appeal(("ana", "sandbox:ana"))
    assert case.appeal_pending  # nothing changed


def test_the_subject_and_a_reporter_may_not_decide() -> None:
    case = _appealed("warn")
    for name in ("sandbox:sam", "sandbox:riley"):
        with pytest.raises(Recused):
            case.check_may_decide_appeal((name,))


def test_an_appeal_is_decided_once_and_raises_its_events() -> None:
    case = _case("warn")
    assert case.file_appeal(SAM, "please", NOW, NOW + timedelta(days=7))
    assert not case.file_appeal(SAM, "and one more thing", NOW, NOW + timedelta(days=8))
    filed = [e for e in case.events if isinstance(e, events.AppealFiled)]
    assert len(filed) == 1 and filed[0].rung == "warn" and filed[0].subject == SAM
    assert filed[0].due_at == NOW + timedelta(days=7) == case.appeal_due_at
    case.decide_appeal(("bo",), AppealDecision.UPHELD, "it stands", NOW + timedelta(hours=1))
    decided = [e for e in case.events if isinstance(e, events.AppealDecided)]
    assert decided == [events.AppealDecided(7, "upheld", 1, None)]
    assert not case.appeal_pending and case.step(1).counts
    with pytest.raises(IllegalTransition, match="no appeal waiting"):
        case.decide_appeal(("bo",), AppealDecision.UPHELD, "again", NOW + timedelta(hours=2))


def test_only_the_subject_appeals_and_without_a_step_only_upheld() -> None:
    case = _case()
    with pytest.raises(InvalidInput, match="only the person the case is about"):
        case.file_appeal(RILEY, "x", NOW, NOW)
    case.file_appeal(SAM, "x", NOW, NOW + timedelta(days=1))
    with pytest.raises(InvalidInput, match="can only be upheld") as err:
        case.decide_appeal(("bo",), AppealDecision.OVERTURNED, "x", NOW)
    assert err.value.field == "decision"


def test_the_policy_has_an_appeal_deadline_with_a_clear_error() -> None:
    assert POLICY.deadlines.appeal_within == timedelta(days=7)
    without = preset_text("guide").replace('appeal_within = "7d"', "")
    assert parse_policy(without, "p").deadlines.appeal_within == timedelta(days=7)
    for bad in ('"10m"', '"100d"', '"soon"'):
        text = preset_text("guide").replace('appeal_within = "7d"', f"appeal_within = {bad}")
        with pytest.raises(InvalidPolicy, match=r"p: deadlines\.appeal_within: .*7d"):
            parse_policy(text, "p")
    typo = preset_text("guide").replace('appeal_within = "7d"', 'apeal_within = "7d"')
    with pytest.raises(InvalidPolicy, match="did you mean 'appeal_within'"):
        parse_policy(typo, "p")
