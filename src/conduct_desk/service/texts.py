"""Rendering the policy's texts (Jinja2, sandboxed), and keeping the reporter out of them.

Subject-facing texts are rendered from :class:`SubjectContext`, which has no field that
could carry who reported: the reporter cannot leak through a template. Text an admin types
by hand is checked for the reporters' names before it is sent.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.errors import ConfidentialityError, InvalidPolicy
from conduct_desk.domain.model import Case
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


_ADMIN_SAMPLE: dict[str, Any] = {
    "case_id": 1, "subject": "sandbox:someone", "waited": "2 hours", "hurt": 1, "backups": "ana",
}
_REPORTER_SAMPLE: dict[str, Any] = {
    "case_id": 1, "take_within": "2 hours", "outcome": "steps-taken",
    "steps": ["warned"], "reason": "",
}
_SAMPLES: dict[str, dict[str, Any]] = {
    "acknowledgement": _REPORTER_SAMPLE,
    "outcome": _REPORTER_SAMPLE,
    "take_reminder": _ADMIN_SAMPLE,
    "step_reminder": _ADMIN_SAMPLE,
    "escalation": _ADMIN_SAMPLE,
    "nudge_answered": {"how": "edited the message"},
    "nudge_apology_seen": {"apology": "sorry"},
    "nudge_enough": {},
}


def format_when(at: datetime) -> str:
    """'Tuesday 25 November 2026, 09:00 UTC' — unambiguous for people in any time zone."""
    return at.strftime("%A %d %B %Y, %H:%M UTC").replace(" 0", " ", 1)


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
        duration="1 day", until="Tuesday", confirm_hint="h",
    )
    subject_vars = ", ".join(asdict(sample))
    for i, rung in enumerate(policy.ladder):
        _check(rung.text, asdict(sample), f"{source}: ladder[{i}].text", subject_vars)
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
) -> SubjectContext:
    quoted = next((r for r in case.reports if r.message_text), None)
    linked = next((r.message_link for r in case.reports if r.message_link), None)
    return SubjectContext(
        name=case.subject.user_id,
        admin=admin,
        community=policy.community,
        coc_url=policy.code_of_conduct_url,
        quote=(quoted.message_text or "").strip() if quoted else "",
        channel=case.channel or "",
        link=linked or "",
        suggestion=suggestion or policy.texts["suggest_default"].strip(),
        duration=humanize_span(duration) if duration else "",
        until=format_when(until) if until else "",
        flagrant=case.flagrant,
        confirm_hint=confirm_hint,
    )


def render_for_subject(template: str, ctx: SubjectContext) -> str:
    return render(template, asdict(ctx))


def check_confidential(text: str, case: Case) -> None:
    """Refuse a hand-written subject text that names a reporter (outside the quoted message)."""
    quote = next((r.message_text for r in case.reports if r.message_text), "") or ""
    visible = text.replace(quote, " ") if quote else text
    for reporter in case.reporters:
        for name in {reporter.user_id, reporter.user_id.lstrip("@"), reporter.key}:
            if len(name) >= 3 and re.search(
                rf"(?<![\w]){re.escape(name)}(?![\w])", visible, re.IGNORECASE
            ):
                raise ConfidentialityError(
                    f"this text names someone who reported ({name!r}); the person it goes to "
                    "must never learn who reported, so rewrite it without the name"
                )
