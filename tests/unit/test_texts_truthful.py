"""Texts say only what is true: every shipped text, after every possible history, claims no
step that was not taken.

Each preset's every text (every rung, flagrant or not, the restore and the nudge) is rendered
after each ordered choice of earlier rungs, including none. ``{{ earlier }}`` is the one way a
text may speak of the past: rendered once with a marker in its place, nothing outside
"after <marker>" may claim an earlier step; and the phrase names exactly the steps taken.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest

from conduct_desk.config import preset_text
from conduct_desk.domain.ladder import PastStep
from conduct_desk.domain.model import Case, Report, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy, parse_policy
from conduct_desk.service.texts import render, subject_context

NOW = datetime(2026, 11, 24, 9, tzinfo=UTC)
MARK = "<<EARLIER>>"
CLAIMS = re.compile(r"\b(after|earlier|previous(ly)?|already|continued|carried on|stepped in|"
                    r"corrections?)\b", re.IGNORECASE)
PRESETS = ["guide", "contributor-covenant-2.1"]


def _histories(policy: Policy) -> list[tuple[int, ...]]:
    rungs = range(len(policy.ladder))
    return [order for k in range(len(policy.ladder) + 1)
            for order in itertools.permutations(rungs, k)]


def _texts(policy: Policy) -> list[tuple[str, str]]:
    return [(f"ladder.{r.name}", r.text) for r in policy.ladder] + [
        ("texts.restore", policy.texts["restore"]), ("texts.nudge", policy.texts["nudge"])]


@pytest.mark.parametrize("preset", PRESETS)
def test_no_text_claims_a_step_that_was_not_taken(preset: str) -> None:
    policy = parse_policy(preset_text(preset), preset)
    subject = PersonRef("sandbox", "sam")
    checked = 0
    for order in _histories(policy):
        history = [PastStep(1, policy.ladder[i].name, policy.ladder[i].action,
                            NOW - timedelta(hours=len(order) - n)) for n, i in enumerate(order)]
        taken = {policy.ladder[i].name for i in order}
        for flagrant in (False, True):  # flagrant changes only the texts that test it
            case = Case(subject=subject, opened_at=NOW, channel="#c", id=1)
            case.reports.append(Report(subject=subject, reporter=None, filed_at=NOW,
                                       source=Source.CLI, flagrant=flagrant))
            ctx = subject_context(case, policy, "ana", history=history, now=NOW,
                                  duration=timedelta(hours=24), until=NOW, suggestion="s")
            phrase = ctx.earlier
            for rung in policy.ladder:
                assert (rung.noun in phrase) == (rung.name in taken), (order, phrase)
            values = {**asdict(ctx), "earlier": MARK if phrase else ""}
            for key, template in _texts(policy):
                if flagrant and "flagrant" not in template:
                    continue
                marked = render(template, values)
                rest = re.sub(rf"\bafter {re.escape(MARK)}", " ", marked, flags=re.IGNORECASE)
                claim = CLAIMS.search(rest)
                assert claim is None and MARK not in rest, (
                    f"{preset} {key} after {[policy.ladder[i].name for i in order]} "
                    f"(flagrant={flagrant}) claims {claim and claim.group(0)!r}: {marked}")
                checked += 1
    assert checked >= len(_histories(policy)) * len(policy.ladder)
