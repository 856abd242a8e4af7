"""The pure parts of linked identities: accounts as typed, codes, what a step reached, the
evasion hint, and the ladder's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conduct_desk.config import preset_text
from conduct_desk.domain.errors import InvalidInput, InvalidPolicy
from conduct_desk.domain.identities import (
    CODE_ALPHABET,
    CODE_LIFETIME,
    EffectTarget,
    LinkCode,
    StepEffect,
    TargetStatus,
    applied_to,
    code_hash,
    evasion_hints,
    format_code,
    own_effects,
    parse_account,
)
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action, Scope, parse_policy
from conduct_desk.domain.standing import LastingStep

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SAM, SAM2, KIM = PersonRef("slack", "U1"), PersonRef("matrix", "@sam:x.org"), PersonRef("sandbox", "kim")


def test_an_account_names_its_platform() -> None:
    assert parse_account(" matrix:@sam:x.org ") == SAM2
    assert parse_account("web:ana") == PersonRef("web", "ana")
    with pytest.raises(InvalidInput, match="does not say its platform"):
        parse_account("@sam:x.org")


@settings(max_examples=30)
@given(st.text(alphabet=CODE_ALPHABET, min_size=8, max_size=8))
def test_a_code_is_the_same_however_it_is_typed(code: str) -> None:
    shown = format_code(code)
    assert len(shown) == 9 and shown[4] == "-"
    assert code_hash(shown) == code_hash(shown.lower().replace("-", " ")) == code_hash(code)


def test_a_code_works_once_for_its_time_from_another_account() -> None:
    code = LinkCode(SAM, code_hash("ABCDEFGH"), NOW, NOW + CODE_LIFETIME)
    code.check(SAM2, NOW + CODE_LIFETIME - timedelta(seconds=1))
    with pytest.raises(InvalidInput, match="expired"):
        code.check(SAM2, NOW + CODE_LIFETIME)
    with pytest.raises(InvalidInput, match="sent to this account"):
        code.check(SAM, NOW)
    with pytest.raises(InvalidInput, match="used already"):
        LinkCode(SAM, code.code_hash, NOW, NOW + CODE_LIFETIME, used_at=NOW).check(SAM2, NOW)


def _effect(account: PersonRef, target: EffectTarget, status: TargetStatus) -> StepEffect:
    return StepEffect(1, 1, account, Action.SUSPEND, target, status, NOW)


def test_only_what_was_reached_and_not_given_back_is_given_back() -> None:
    done, failed = TargetStatus.DONE, TargetStatus.FAILED
    effects = [_effect(SAM2, EffectTarget.APPLY, done), _effect(KIM, EffectTarget.APPLY, failed),
               _effect(SAM, EffectTarget.APPLY, TargetStatus.MANUAL),
               _effect(SAM, EffectTarget.RESTORE, done)]
    assert [e.account for e in applied_to(effects)] == [SAM2]
    assert effects[0].line == "matrix:@sam:x.org: suspension done"
    assert effects[3].line == "slack:U1: given back done"


def _lasting(subject: PersonRef, action: Action, case_id: int, **kw: object) -> LastingStep:
    return LastingStep(case_id, action.value, action, NOW - timedelta(days=1), subject=subject,
                       **kw)  # type: ignore[arg-type]


def test_the_evasion_hint_names_linked_accounts_banned_or_suspended_now() -> None:
    effects = [_lasting(SAM, Action.BAN, 4), _lasting(SAM2, Action.WARN, 5),
               _lasting(KIM, Action.SUSPEND, 6, until=NOW + timedelta(hours=3)),
               _lasting(KIM, Action.SUSPEND, 2, until=NOW - timedelta(hours=3)),
               _lasting(SAM2, Action.SUSPEND, 7, until=NOW + timedelta(hours=3),
                        restored_at=NOW)]
    assert evasion_hints(SAM2, effects, NOW) == [
        "linked to sandbox:kim, suspended in case 6", "linked to slack:U1, banned in case 4"]
    # the subject's own steps are not a hint about someone else
    assert evasion_hints(SAM, effects[:1], NOW) == []
    assert own_effects(effects, SAM2) == [effects[1], effects[4]]


def _policy(extra: str, action: str = "ban") -> str:
    text = preset_text("guide")
    return text.replace(f'\naction = "{action}"\n', f'\naction = "{action}"\n{extra}\n', 1)


def test_the_scope_is_a_choice_per_rung() -> None:
    plain = parse_policy(preset_text("guide"), "guide")
    assert {r.scope for r in plain.ladder} == {Scope.PLATFORM}
    policy = parse_policy(_policy('scope = "everywhere"'), "p")
    assert policy.ban_rung().scope is Scope.EVERYWHERE
    with pytest.raises(InvalidPolicy, match=r'scope: must be "platform" .* found \'all\''):
        parse_policy(_policy('scope = "all"'), "p")
    with pytest.raises(InvalidPolicy, match="applies to a suspend or ban step"):
        parse_policy(_policy('scope = "everywhere"', "warn"), "p")
