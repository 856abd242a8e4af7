"""Rendering the policy's texts (Jinja2, sandboxed), and keeping the reporter out of them.

Subject-facing texts are rendered from :class:`SubjectContext`, which has no field that
could carry who reported, and quotes only the words that were said (never a reporter's
account). Every text that reaches the subject — rendered or typed by an admin — is then
checked for the names of the reporters and the hurt (:func:`check_confidential`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.errors import ConfidentialityError, InvalidPolicy
from conduct_desk.domain.ladder import PastStep, case_history, earlier_phrase, earlier_rungs
from conduct_desk.domain.model import Case
from conduct_desk.domain.names import Named, find_name, names_of
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import TEXT_KEYS, Policy

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class SubjectContext:
    """Everything a text to the subject may say. Deliberately nothing about reporters."""

    name: str
    admin: str
    community: str
    coc_url: str
    quote: str = ""
    channel: str = ""
    link: str = ""
    suggestion: str = ""
    duration: str = ""
    until: str = ""
    flagrant: bool = False
    confirm_hint: str = ""
    earlier: str = ""  # the steps already taken, "a reminder and a warning"; empty when none
    earlier_steps: tuple[str, ...] = ()  # their names on the ladder, e.g. ("remind", "warn")


_ADMIN_SAMPLE: dict[str, Any] = {
    "case_id": 1, "subject": "sandbox:someone", "waited": "2 hours", "hurt": 1, "backups": "ana",
}
_REPORTER_SAMPLE: dict[str, Any] = {
    "case_id": 1, "take_within": "2 hours", "take_by": "Tuesday 25 November 2026, 11:00 UTC",
    "outcome": "steps-taken", "steps": ["warned"], "reason": "",
}
_SAMPLES: dict[str, dict[str, Any]] = {
    "acknowledgement": _REPORTER_SAMPLE,
    "outcome": _REPORTER_SAMPLE,
    "take_reminder": _ADMIN_SAMPLE,
    "step_reminder": _ADMIN_SAMPLE,
    "escalation": _ADMIN_SAMPLE,
    "appeal_reminder": _ADMIN_SAMPLE,
    "nudge_answered": {"how": "edited the message"},
    "nudge_apology_seen": {"apology": "sorry"},
    "nudge_enough": {},
}


# the policy text for each decision on an appeal, and what such a text may say besides the
# subject's context: the appealed step (``step``: "a suspension"), the step that replaces it
# (``new_step``), and whether the platform undid it (``undone``)
APPEAL_TEXTS = {"upheld": "appeal_upheld", "overturned": "appeal_overturned",
                "changed": "appeal_changed"}
APPEAL_SAMPLE: dict[str, Any] = {"step": "a suspension", "new_step": "a warning", "undone": True}


def format_when(at: datetime, now: datetime | None = None) -> str:
    """'Tuesday 25 November 2026, 09:00 UTC' — unambiguous for people in any time zone; with
    ``now``, and ``at`` at least a minute later, also how far off it is: '… UTC (in 24 hours)',
    so nobody has to work out their own offset from UTC."""
    at = at.astimezone(UTC)
    text = f"{at:%A} {at.day} {at:%B %Y, %H:%M} UTC"  # "5 May", not "05 May"
    if now is not None and at - now >= timedelta(minutes=1):
        text += f" (in {humanize_span(_to_minutes(at - now))})"
    return text


def _to_minutes(span: timedelta) -> timedelta:
    """The span to the nearest minute: "in 24 hours", not "in 23 hours 59 minutes 58 seconds"."""
    return timedelta(minutes=round(span.total_seconds() / 60))


@functools.lru_cache(maxsize=256)
def _template(source: str) -> Template:
    """The compiled template: a policy has a few dozen texts, each compiled once, not per send."""
    return _ENV.from_string(source)


def render(source: str, context: dict[str, Any], where: str = "text") -> str:
    try:
        return _template(source).render(**context).strip()
    except TemplateError as exc:
        raise InvalidPolicy(f"{where}: {exc}; fix the template in the policy file") from None


def check_policy_texts(policy: Policy, source: str) -> None:
    """Render every template once with sample values so mistakes show at start, not mid-case."""
    sample = SubjectContext(
        name="someone", admin="ana", community=policy.community,
        coc_url=policy.code_of_conduct_url, quote="q", channel="#c", link="l", suggestion="s",
        duration="1 day", until="Tuesday 25 November 2026, 09:00 UTC (in 1 day)",
        confirm_hint="h", earlier="a warning",
        earlier_steps=("warn",),
    )
    subject_vars = ", ".join(asdict(sample))
    for i, rung in enumerate(policy.ladder):
        _check(rung.text, asdict(sample), f"{source}: ladder[{i}].text", subject_vars)
    appeal = {**asdict(sample), **APPEAL_SAMPLE}
    for key in APPEAL_TEXTS.values():
        _check(policy.texts[key], appeal, f"{source}: texts.{key}", ", ".join(appeal))
    for key in ("restore", "nudge"):
        _check(policy.texts[key], asdict(sample), f"{source}: texts.{key}", subject_vars)
    for key in TEXT_KEYS:
        if key in _SAMPLES:
            ctx = _SAMPLES[key]
            _check(policy.texts[key], ctx, f"{source}: texts.{key}", ", ".join(ctx))


def _check(template: str, ctx: dict[str, Any], where: str, available: str) -> None:
    try:
        _ENV.from_string(template).render(**ctx)
    except TemplateError as exc:
        raise InvalidPolicy(f"{where}: {exc}; available variables: {available}") from None


def subject_context(
    case: Case,
    policy: Policy,
    admin: str,
    *,
    suggestion: str = "",
    until: datetime | None = None,
    duration: timedelta | None = None,
    confirm_hint: str = "",
    history: list[PastStep] | None = None,
    now: datetime | None = None,
    channel: str | None = None,
    name: str | None = None,
) -> SubjectContext:
    """What the texts to the subject may say. ``history`` is the subject's counting steps
    (all cases); without it, this case's own steps are what happened before."""
    quoted = case.quoted_report
    linked = next((r.message_link for r in case.reports if r.message_link), None)
    if history is None:
        history = case_history(case)
    when = now or max((p.at for p in history), default=case.opened_at)
    earlier = earlier_rungs(history, policy, when)
    return SubjectContext(
        name=name or case.subject.user_id,
        admin=admin,
        community=policy.community,
        coc_url=policy.code_of_conduct_url,
        quote=(quoted.words_said or "").strip() if quoted else "",
        channel=channel or case.channel or "",
        link=linked or "",
        suggestion=suggestion or policy.texts["suggest_default"].strip(),
        duration=humanize_span(duration) if duration else "",
        until=format_when(until, now) if until else "",
        flagrant=case.flagrant,
        confirm_hint=confirm_hint,
        earlier=earlier_phrase(earlier),
        earlier_steps=tuple(r.name for r in earlier),
    )


def render_for_subject(template: str, ctx: SubjectContext) -> str:
    return render(template, {f.name: getattr(ctx, f.name) for f in fields(ctx)})


def person_names(person: PersonRef, known: Iterable[str] = ()) -> list[str]:
    """Every name a person goes by: id, key, Matrix localpart, and the names the platform
    knows (display name, real name, user name)."""
    user = person.user_id
    local = user.lstrip("@").split(":", 1)[0]
    return [user, person.key, local, *known]


@dataclass(frozen=True)
class NameGuard:
    """The names that must not reach the subject, and the subject's own (masked first)."""

    protected: tuple[Named, ...]
    subject: tuple[Named, ...]
    said: tuple[str, ...]  # the words that were said: they may be quoted as they are
    # the names of anonymous reporters: a refusal never echoes them, not even to an admin
    hidden: frozenset[tuple[str, ...]] = frozenset()

    @classmethod
    def for_case(cls, case: Case,
                 known: Callable[[PersonRef], tuple[str, ...]] | None = None,
                 sender: str | None = None) -> NameGuard:
        """``sender``: the admin who signs the text. Their name is in it by design (they say
        who they are), and it is masked like the subject's: an admin merely named as hurt may
        act (only the confirmed hurt and reporters step aside), and signing says nothing about
        who reported."""
        def names(person: PersonRef) -> list[str]:
            return person_names(person, known(person) if known else ())

        protected: list[str] = []
        for person in (*case.reporters, *case.harmed):
            if person != case.subject:
                protected.extend(names(person))
        said = tuple(r.words_said for r in case.reports if r.words_said)
        own = [*names(case.subject), *((sender,) if sender else ())]
        anonymous = [n for r in case.reports if r.anonymous and r.reporter is not None
                     and r.reporter != case.subject for n in names(r.reporter)]
        return cls(names_of(protected), names_of(own), said,
                   frozenset(n.words for n in names_of(anonymous)))


def check_confidential(text: str, case: Case, guard: NameGuard | None = None, *,
                       field: str = "text") -> None:
    """Refuse a text for the subject that names a reporter or a hurt person (outside the
    words that were said, which may be quoted). ``field`` is what the admin should change."""
    guard = guard or NameGuard.for_case(case)
    visible = text
    for said in guard.said:
        visible = visible.replace(said.strip(), " ") if said.strip() else visible
    found = find_name(visible, guard.protected, mask=guard.subject)
    if found is not None:
        # The same words whoever matched: echoing the name, or saying "reported" rather
        # than "involved", would tell an admin who typed a name that it is an anonymous
        # reporter's. ``matched`` is kept for visible people only (named reporters, the hurt).
        raise ConfidentialityError(
            f"{field_words(field)} names someone involved in this case; the person it goes "
            "to must never learn who reported, so change it to leave the name out",
            field=field, matched="" if found.words in guard.hidden else found.name)


def field_words(field: str) -> str:
    """How a refusal names the field to change, before each entry point adds its own hint."""
    if field == "text":
        return "the text"
    if field == "suggestion":
        return "the suggestion"
    return f"the policy text {field}"

