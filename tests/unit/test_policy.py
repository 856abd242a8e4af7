from __future__ import annotations

from datetime import timedelta

import pytest

from conduct_desk.config import preset_text
from conduct_desk.domain.durations import format_duration, humanize_age, parse_duration
from conduct_desk.domain.errors import InvalidInput, InvalidPolicy
from conduct_desk.domain.policy import Action, parse_policy
from conduct_desk.service.texts import check_policy_texts

GUIDE = preset_text("guide")


def test_guide_preset_is_the_guide_ladder() -> None:
    policy = parse_policy(GUIDE, "guide")
    assert [r.name for r in policy.ladder] == ["remind", "suggest", "remove", "warn", "suspend", "ban"]
    suspend = policy.rung("suspend")
    assert suspend.duration is not None
    assert (suspend.duration.minimum, suspend.duration.default, suspend.duration.maximum) == (
        timedelta(hours=12), timedelta(hours=24), timedelta(hours=24))
    assert policy.ban_needs_consultation
    check_policy_texts(policy, "guide")


def test_covenant_preset_has_four_steps() -> None:
    policy = parse_policy(preset_text("contributor-covenant-2.1"), "cc")
    assert [(r.name, r.action) for r in policy.ladder] == [
        ("correction", Action.WARN), ("warning", Action.WARN),
        ("temporary-ban", Action.SUSPEND), ("permanent-ban", Action.BAN)]
    check_policy_texts(policy, "cc")


@pytest.mark.parametrize(("edit", "message"), [
    (("history_window", "histroy_window"), "policy: histroy_window: unknown key (did you mean 'history_window'?)"),
    (('action = "remove"', 'action = "kick"'), "ladder[2].action: 'kick' is not one of remind, suggest"),
    (('default = "24h"', 'default = "30h"'), "ladder[4].duration: needs min <= default <= max"),
    (('take_within = "2h"', 'take_within = "two hours"'), "deadlines.take_within: malformed"),
    (('attempts = 5', 'attempts = "five"'), "retry.attempts: must be a whole number from 1 to 50"),
    (('needs_consultation = true', 'needs_consultation = "yes"'), "ban.needs_consultation: must be true or false"),
    (('account = "deactivate"', 'account = "delete"'), "ban.account: must be one of 'deactivate', 'lock'"),
    (('code_of_conduct_url = "https://', 'code_of_conduct_url = "ftp://'), "code_of_conduct_url: 'ftp://"),
    (('name = "suggest"', 'name = "remind"'), "ladder[1].name: 'remind' is used twice"),
    (("[deadlines]", "[deadlines"), "not valid TOML"),
])
def test_policy_errors_name_the_field(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(InvalidPolicy) as exc:
        parse_policy(GUIDE.replace(*edit, 1), "policy")
    assert message in str(exc.value)


def test_template_with_unknown_variable_is_refused_at_load() -> None:
    bad = GUIDE.replace("I'm stepping in about this message", "{{ reporter }} reported this", 1)
    policy = parse_policy(bad, "p.toml")
    with pytest.raises(InvalidPolicy) as exc:
        check_policy_texts(policy, "p.toml")
    assert "p.toml: ladder[0].text" in str(exc.value)
    assert "'reporter' is undefined" in str(exc.value)
    assert "available variables: name, admin" in str(exc.value)


def test_ladder_must_exist() -> None:
    text = GUIDE.split("[[ladder]]")[0] + "[texts]\n" + GUIDE.split("[texts]")[1]
    with pytest.raises(InvalidPolicy, match="ladder: missing; add at least one"):
        parse_policy(text, "policy")


@pytest.mark.parametrize(("text", "expected"), [
    ("24h", timedelta(hours=24)), ("90m", timedelta(minutes=90)), ("1d12h", timedelta(hours=36)),
    ("2w", timedelta(days=14)), ("45s", timedelta(seconds=45)),
])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["24 hours", "h", "", "-1h", "1.5h"])
def test_malformed_durations(text: str) -> None:
    with pytest.raises(InvalidInput, match="24h, 90m"):
        parse_duration(text)


def test_humanize_age() -> None:
    assert humanize_age(timedelta(seconds=10)) == "just now"
    assert humanize_age(timedelta(days=3, hours=2)) == "3 days ago"
    assert humanize_age(timedelta(hours=1)) == "1 hour ago"


def test_zero_duration_is_refused() -> None:
    with pytest.raises(InvalidInput, match="is zero: give a positive duration"):
        parse_duration("0h")


@pytest.mark.parametrize("preset", ["guide", "contributor-covenant-2.1"])
def test_reaction_intake_is_off_unless_the_policy_turns_it_on(preset: str) -> None:
    text = preset_text(preset)
    assert not parse_policy(text, preset).reactions
    assert "reactions = false" in text and "who reacted" in text  # the file says why
    assert parse_policy(text.replace("reactions = false", "reactions = true"), preset).reactions
    assert not parse_policy(text.replace("[intake]\n", "[unused]\n").replace(
        "[unused]", "").replace("reactions = false", ""), preset).reactions


@pytest.mark.parametrize(("edit", "message"), [
    (("reactions = false", "reaction = true"),
     "intake.reaction: unknown key (did you mean 'reactions'?)"),
    (("reactions = false", 'reactions = "yes"'), "intake.reactions: must be true or false"),
    (("[intake]", "[intak]"), "intak: unknown key (did you mean 'intake'?)"),
])
def test_intake_errors_name_the_field(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(InvalidPolicy, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("?", r"\?")):
        parse_policy(GUIDE.replace(*edit), "policy")


@pytest.mark.parametrize("preset", ["guide", "contributor-covenant-2.1"])
def test_the_apology_texts_are_in_both_presets_and_checked(preset: str) -> None:
    text = preset_text(preset)
    assert "nudge_apology_seen = " in text and "nudge_enough = " in text
    broken = text.replace("> {{ apology }}", "> {{ apologie }}")
    with pytest.raises(InvalidPolicy, match="texts.nudge_apology_seen"):
        check_policy_texts(parse_policy(broken, preset), preset)


def test_a_bans_message_window_is_read_and_bounded() -> None:
    from datetime import timedelta

    from conduct_desk.domain.errors import InvalidPolicy

    base = GUIDE
    assert parse_policy(base, "guide").ban_delete_messages == timedelta(0)
    one_day = base.replace('account = "deactivate"\n', 'account = "deactivate"\ndelete_messages = "1d"\n', 1)
    assert parse_policy(one_day, "p").ban_delete_messages == timedelta(days=1)
    too_long = base.replace('account = "deactivate"\n', 'account = "deactivate"\ndelete_messages = "8d"\n', 1)
    with pytest.raises(InvalidPolicy, match="ban.delete_messages"):
        parse_policy(too_long, "p")


@pytest.mark.parametrize("preset", ["guide", "contributor-covenant-2.1"])
def test_retention_is_in_both_presets_and_read(preset: str) -> None:
    text = preset_text(preset)
    assert "[retention]" in text and "(retention policy)" in text  # the file says what shows
    keep = parse_policy(text, preset).retention
    assert (keep.report_texts, keep.notes, keep.messages) == (
        timedelta(days=180), timedelta(days=365), timedelta(days=180))
    changed = parse_policy(text.replace('notes = "365d"', 'notes = "2w"'), preset).retention
    assert changed.notes == timedelta(days=14)
    # a policy written before [retention] still loads, with the same spans
    start = text.index("[retention]")
    older = text[:start] + text[text.index("[[ladder]]", start):]
    assert parse_policy(older, preset).retention == keep


@pytest.mark.parametrize(("edit", "message"), [
    (('notes = "365d"', 'notes = "12h"'),
     "policy: retention.notes: must be from 1d to 3650d, found '12h'; write e.g. notes = "
     '"365d"'),
    (('messages = "180d"', "messages = 180"),
     "policy: retention.messages: must be a quoted span such as \"180d\", found 180"),
    (('report_texts = "180d"', 'report_texts = "half a year"'),
     "policy: retention.report_texts: malformed"),
    (('report_texts = "180d"', 'reports = "180d"'),
     "policy: retention.reports: unknown key (did you mean 'report_texts'?)"),
])
def test_retention_errors_name_the_key(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(InvalidPolicy) as exc:
        parse_policy(GUIDE.replace(*edit, 1), "policy")
    assert message in str(exc.value)
