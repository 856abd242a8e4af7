"""A case: everything about it, and the forms that act on it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from conduct_desk.domain.accounts import Account
from conduct_desk.domain.durations import format_duration
from conduct_desk.domain.errors import DeskError, InvalidInput
from conduct_desk.domain.model import Case, Outcome
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import accounts, commands, views
from conduct_desk.web.deps import (
    Acting,
    CaseId,
    Csrf,
    Forbidden,
    SignedIn,
    StepId,
    Web,
    WebState,
    require_step_role,
)
from conduct_desk.web.pages import Fix, error_fix, error_text, render, status_of

router = APIRouter(include_in_schema=False)

LONG = 100_000  # hard cap on a field; the desk's own limits give the friendly message
DONE = {
    "taken": "The case is yours now.",
    "handed-over": "The case is handed over.",
    "step": "The step is recorded; its status is below.",
    "consulted": "The consultation is recorded.",
    "resolved": "The case is resolved; the reporters are told how it ended.",
    "hurt-confirmed": "Confirmed: that admin steps aside from this case.",
    "reopened": "The case is open again, and yours.",
    "marked-done": "The step is marked done.",
    "lifted": "The suspension is lifted.",
    "appeal-decided": "The appeal is decided; the person is told, and the audit log has it.",
    "asked": "Your question is on its way to the reporter; answering is up to them.",
    "written": "Your message is on its way to the person it is about.",
}
DECISIONS = [
    ("upheld", "Upheld: the step stands"),
    ("overturned", "Overturned: set the step aside (undone where it can be; it no longer counts)"),
    ("changed", "Changed: replace it with a lower step, which counts instead"),
]
# the appeal form's fields, as its labels name them
APPEAL_FIELDS = {"decision": "the Decision choice", "to": "the “Replace it with” list",
                 "duration": "the “How long” field", "text": "the message box"}
OUTCOMES = [(o.value, label) for o, label in (
    (Outcome.APOLOGIZED, "The person apologized (if no step was taken, say where)"),
    (Outcome.STEPS_TAKEN, "Steps taken"),
    (Outcome.NO_ACTION, "No action needed (say why)"),
    (Outcome.DUPLICATE, "Duplicate of another case (say which)"),
)]


def compose_context(web: WebState, admin: Account, case_id: int, step: str | None,
                    duration: str | None, suggestion: str | None) -> dict[str, Any] | None:
    """The compose form for ``step``: the exact text it would send, ready to edit."""
    if not step:
        return None
    desk = web.app.desk
    ctx: dict[str, Any] = {"step": step, "duration": duration or "", "suggestion": suggestion or ""}
    try:
        rung = desk.policy.rung(step)
        ctx["rung"] = rung
        require_step_role(admin.role, rung.action, rung.name)
        composed = views.preview_step(web.app.uow(), desk, case_id, step, admin.name,
                                      duration=duration or None, suggestion=suggestion or None)
    except (DeskError, Forbidden) as exc:
        ctx["error"] = error_text(exc) if isinstance(exc, DeskError) else str(exc)
        return ctx
    ctx.update(text=composed.text, original=composed.text, until=composed.until,
               quote_from=composed.quote_from)
    if rung.duration is not None and not duration:
        ctx["duration"] = format_duration(rung.duration.default)
    return ctx


def appeal_context(web: WebState, admin: Account, case: Case, decision: str = "",
                   to: str = "", duration: str = "") -> dict[str, Any] | None:
    """The appeal on the case page: what is appealed, who may decide, and (once a decision
    is chosen) the exact message it sends, ready to edit."""
    if not case.appeal_pending:
        return None
    policy = web.app.desk.policy
    step = case.appealed_step
    index = policy.index_of(step.rung, step.action) if step is not None else None
    names = {n.casefold() for n in (admin.name, *admin.identities)}
    ctx: dict[str, Any] = {
        "step": step, "decision": decision, "to": to, "duration": duration,
        "below": list(policy.ladder[:index or 0]),
        "mine": step is not None and step.actor.casefold() in names,
        "may": admin.role.may_act and (step is None or admin.role.may_take(step.action)),
    }
    if decision and ctx["may"] and not ctx["mine"]:
        try:
            assert case.id is not None
            draft = views.preview_appeal_decision(web.app.uow(), web.app.desk, case.id,
                                                  admin.name, decision, to=to or None,
                                                  duration=duration or None)
        except DeskError as exc:
            ctx.update(error=error_text(exc, APPEAL_FIELDS), error_at=exc.field)
            return ctx
        ctx.update(text=draft.text, original=draft.text, undone=draft.undone,
                   until=draft.replacement.until if draft.replacement else None)
        if draft.replacement is not None and draft.replacement.duration and not duration:
            ctx["duration"] = format_duration(draft.replacement.duration)
    return ctx


def case_page(request: Request, web: WebState, admin: Account, case_id: int, *,
              compose: dict[str, Any] | None = None, error: str | None = None,
              status: int = 200, form: dict[str, Any] | None = None,
              error_at: str | None = None, fix: Fix | None = None,
              appeal: dict[str, Any] | None = None,
              follow_up: dict[str, Any] | None = None) -> Response:
    """The case page; ``error`` shows at the top, or beside the field ``error_at`` (the
    resolve form's ``outcome`` or ``reason``); ``fix`` is a button that does what it asks."""
    desk = web.app.desk
    detail = views.case_detail(web.app.uow(), desk, case_id, admin.name, admin.identities,
                               count_waiting=True)
    case = detail.case
    rungs = [(r, admin.role.may_take(r.action)) for r in desk.policy.ladder]
    return render(request, "case.html", {
        "d": detail, "case": case, "rungs": rungs, "compose": compose, "error": error,
        "error_at": error_at, "fix": fix,
        "form": form or {}, "outcomes": OUTCOMES, "done": DONE.get(request.query_params.get(
            "done", "")), "reporters": [views.reporter_label(case, i)
                                       for i in range(len(case.reports))],
        "hurt": views.named_hurt(case),
        "policy": desk.policy,
        "appeal": appeal if appeal is not None else appeal_context(
            web, admin, case, request.query_params.get("decision", "")[:16],
            request.query_params.get("to", "")[:64],
            request.query_params.get("duration", "")[:32]),
        "decisions": DECISIONS,
        "follow_up": follow_up or {},
        "takers": accounts.takers(web.app.uow(), case)
        if case.is_open and admin.role.may_act
        and (case.taken_by in (None, admin.name) or admin.role.may_reassign) else [],
        "waiting": detail.waiting,
    }, status)


@router.get("/cases/{case_id}")
def show_case(request: Request, web: Web, admin: SignedIn, case_id: CaseId,
              step: Annotated[str, Query(max_length=64)] = "",
              duration: Annotated[str, Query(max_length=32)] = "",
              suggestion: Annotated[str, Query(max_length=LONG)] = "") -> Response:
    if not (step and admin.role.may_act):  # case_page checks recusal as it loads the case
        return case_page(request, web, admin, case_id)
    views.check_access(web.app.uow(), case_id, admin.name, admin.identities)
    compose = compose_context(web, admin, case_id, step, duration, suggestion)
    return case_page(request, web, admin, case_id, compose=compose)


@router.get("/cases/{case_id}/compose")
def compose_fragment(request: Request, web: Web, admin: Acting, case_id: CaseId,
                     step: Annotated[str, Query(max_length=64)] = "",
                     duration: Annotated[str, Query(max_length=32)] = "",
                     suggestion: Annotated[str, Query(max_length=LONG)] = "") -> Response:
    """The compose form alone, for htmx to swap into the case page."""
    with_case = views.case_detail(web.app.uow(), web.app.desk, case_id, admin.name,
                                  admin.identities)
    return render(request, "_compose.html", {
        "case": with_case.case, "d": with_case,
        "compose": compose_context(web, admin, case_id, step, duration, suggestion)})


def _act(request: Request, web: WebState, admin: Account, case_id: int, command: commands.Command,
         done: str, *, compose: dict[str, Any] | None = None,
         form: dict[str, Any] | None = None, fields: tuple[str, ...] = ()) -> Response:
    """Run one command; on a mistake show the case again with the message and what was typed."""
    views.check_access(web.app.uow(), case_id, admin.name, admin.identities)
    try:
        web.app.bus.handle(command)
    except DeskError as exc:
        if compose is not None:  # the compose form asks "why this step instead…?"
            compose["error"] = error_text(exc, {"reason": "the “Why this step” field"})
        return case_page(request, web, admin, case_id, compose=compose,
                         error=None if compose is not None else error_text(exc),
                         status=status_of(exc), form=form, fix=error_fix(exc),
                         error_at=exc.field if exc.field in fields else None)
    anchor = {"step": "#steps", "consulted": "#consult"}.get(done, "")
    return RedirectResponse(f"/cases/{case_id}?done={done}{anchor}", status_code=303)


@router.post("/cases/{case_id}/take")
def take(request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId) -> Response:
    return _act(request, web, admin, case_id, commands.TakeCase(case_id, admin.name), "taken")


@router.post("/cases/{case_id}/hand-over")
def hand_over(request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
              to: Annotated[str, Form(max_length=200)] = "") -> Response:
    # a recused admin is refused by case_page or by _act, whichever runs. The list offers
    # everyone an admin may see as free; one message for every other name, which never says
    # why (an anonymous reporter is on the list like anyone else: see Case.hand_over)
    if to not in accounts.takers(web.app.uow(), case_id):
        return case_page(request, web, admin, case_id, status=422, error=(
            "Choose an admin from the list to hand this case over to."))
    return _act(request, web, admin, case_id,
                commands.HandOver(case_id, admin.name, to, may_reassign=admin.role.may_reassign),
                "handed-over")


@router.post("/cases/{case_id}/steps")
def take_step(
    request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
    step: Annotated[str, Form(max_length=64)],
    text: Annotated[str, Form(max_length=LONG)] = "",
    original: Annotated[str, Form(max_length=LONG)] = "",
    duration: Annotated[str, Form(max_length=32)] = "",
    suggestion: Annotated[str, Form(max_length=LONG)] = "",
    reason: Annotated[str, Form(max_length=LONG)] = "",
) -> Response:
    desk = web.app.desk
    rung = desk.policy.rung(step)
    require_step_role(admin.role, rung.action, rung.name)
    text, original = text.replace("\r\n", "\n"), original.replace("\r\n", "\n")
    # unchanged text: let the desk render it afresh (a suspension's end time moves on)
    edited = text.strip() != original.strip()
    if edited and not text.strip():
        raise InvalidInput("the message is empty; write what to send, or reload the page")
    compose = {"step": step, "rung": rung, "text": text, "original": original,
               "duration": duration, "suggestion": suggestion, "reason": reason}
    return _act(request, web, admin, case_id, commands.TakeStep(
        case_id, step, admin.name, duration.strip() or None, text if edited else None,
        reason.strip() or None, suggestion.strip() or None), "step", compose=compose)


@router.post("/cases/{case_id}/consult")
def consult(
    request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
    summary: Annotated[str, Form(max_length=LONG)] = "",
    person: Annotated[str, Form(max_length=300)] = "",
    not_possible: Annotated[bool, Form()] = False,
) -> Response:
    form = {"summary": summary, "person": person, "not_possible": not_possible}
    ref = None
    try:
        if bool(person.strip()) == not_possible:
            raise InvalidInput("name the person you talked with, or tick “no consultation was "
                               "possible” and say why in the summary")
        if person.strip():
            ref = PersonRef.parse(person, web.app.settings.default_platform)
    except InvalidInput as exc:
        return case_page(request, web, admin, case_id, error=error_text(exc), status=422,
                         form=form)
    return _act(request, web, admin, case_id,
                commands.Consult(case_id, admin.name, summary, ref), "consulted", form=form)


@router.post("/cases/{case_id}/resolve")
def resolve(
    request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
    outcome: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=LONG)] = "",
) -> Response:
    form = {"outcome": outcome, "reason": reason}
    if not outcome.strip():  # nothing is preselected: an outcome is never chosen by accident
        views.check_access(web.app.uow(), case_id, admin.name, admin.identities)
        return case_page(request, web, admin, case_id, status=422, form=form, error_at="outcome",
                         error="Choose how the case ended in the Outcome list; nothing was "
                               "recorded yet.")
    return _act(request, web, admin, case_id, commands.ResolveCase(
        case_id, admin.name, outcome, reason.strip() or None,
        may_reassign=admin.role.may_reassign), "resolved", form=form,
        fields=("outcome", "reason"))


@router.post("/cases/{case_id}/reopen")
def reopen(request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId) -> Response:
    return _act(request, web, admin, case_id, commands.ReopenCase(
        case_id, admin.name, may_reassign=admin.role.may_reassign), "reopened")


@router.post("/cases/{case_id}/recuse")
def recuse(request: Request, web: Web, admin: SignedIn, _csrf: Csrf, case_id: CaseId) -> Response:
    """Step aside. Open to an admin who is involved (the one thing they may do on the case);
    afterwards they can no longer see it, so they go back to the queue."""
    try:
        web.app.bus.handle(commands.Recuse(case_id, admin.name))
    except DeskError as exc:
        return render(request, "error.html", {"title": "That did not work",
                                              "message": error_text(exc)}, status_of(exc))
    return RedirectResponse("/queue", status_code=303)


@router.post("/cases/{case_id}/confirm-hurt")
def confirm_hurt(request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
                 person: Annotated[str, Form(max_length=300)] = "") -> Response:
    return _act(request, web, admin, case_id, commands.ConfirmHurt(case_id, admin.name, person),
                "hurt-confirmed")


@router.post("/cases/{case_id}/steps/{step_id}/done")
def mark_done(request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
              step_id: StepId) -> Response:
    return _act(request, web, admin, case_id,
                commands.MarkManualDone(case_id, step_id, admin.name), "marked-done")


@router.post("/cases/{case_id}/steps/{step_id}/lift")
def lift(request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
         step_id: StepId) -> Response:
    return _act(request, web, admin, case_id,
                commands.LiftSuspension(case_id, step_id, admin.name), "lifted")


@router.post("/cases/{case_id}/appeal")
def decide_appeal(
    request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
    decision: Annotated[str, Form(max_length=16)] = "",
    to: Annotated[str, Form(max_length=64)] = "",
    duration: Annotated[str, Form(max_length=32)] = "",
    text: Annotated[str, Form(max_length=LONG)] = "",
    original: Annotated[str, Form(max_length=LONG)] = "",
) -> Response:
    """Decide the appeal: the message shown (edited or not) goes to the person."""
    views.check_access(web.app.uow(), case_id, admin.name, admin.identities)
    text, original = text.replace("\r\n", "\n"), original.replace("\r\n", "\n")
    edited = text.strip() != original.strip()
    try:
        if not decision.strip():
            raise InvalidInput("choose a decision: upheld, overturned or changed; nothing was "
                               "recorded yet", field="decision")
        if edited and not text.strip():
            raise InvalidInput("the message is empty; write what to tell the person, or "
                               "choose the decision again for the policy's words", field="text")
        web.app.bus.handle(commands.DecideAppeal(case_id, admin.name, decision,
                                                 to.strip() or None, duration.strip() or None,
                                                 text if edited else None))
    except DeskError as exc:
        ctx = appeal_context(web, admin, views.load_case(web.app.uow(), case_id))
        if ctx is None:  # no appeal waiting (decided meanwhile): the message goes on top
            return case_page(request, web, admin, case_id, error=error_text(exc),
                             status=status_of(exc))
        ctx.update(decision=decision, to=to, duration=duration, text=text, original=original,
                   error=error_text(exc, APPEAL_FIELDS), error_at=exc.field)
        return case_page(request, web, admin, case_id, appeal=ctx, status=status_of(exc))
    return RedirectResponse(f"/cases/{case_id}?done=appeal-decided#appeal", status_code=303)
# -- follow-ups: questions to a reporter, messages with the subject (service/followups.py) --

FOLLOW_UP_FIELDS = {"ask": {"report": "the “Which report” list", "text": "the question box"},
                    "write": {"text": "the message box"}}


def _follow_up(request: Request, web: WebState, admin: Account, case_id: int,
               command: commands.Command, done: str, form: dict[str, Any]) -> Response:
    """Send a follow-up; on a mistake show the case again with the message beside the form
    (``form["form"]``: ``ask`` or ``write``) and what was typed."""
    views.check_access(web.app.uow(), case_id, admin.name, admin.identities)
    try:
        web.app.bus.handle(command)
    except DeskError as exc:
        return case_page(request, web, admin, case_id, status=status_of(exc), follow_up={
            **form, "error": error_text(exc, FOLLOW_UP_FIELDS[form["form"]]), "field": exc.field})
    return RedirectResponse(f"/cases/{case_id}?done={done}#follow-ups", status_code=303)


@router.post("/cases/{case_id}/ask")
def ask_reporter(request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
                 report: Annotated[int, Form(ge=1, le=2**31 - 1)],
                 text: Annotated[str, Form(max_length=LONG)] = "") -> Response:
    """Ask one report's reporter a question (answering is optional for them)."""
    return _follow_up(request, web, admin, case_id,
                      commands.AskReporter(case_id, admin.name, report, text), "asked",
                      {"form": "ask", "text": text, "report": report})


@router.post("/cases/{case_id}/write")
def write_to_subject(request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
                     text: Annotated[str, Form(max_length=LONG)] = "") -> Response:
    """Write to the person the case is about (never a reporter's or a hurt person's name)."""
    return _follow_up(request, web, admin, case_id,
                      commands.WriteToSubject(case_id, admin.name, text), "written",
                      {"form": "write", "text": text})
