"""``/api/v1``: the desk for programs. Bearer tokens carry the same roles as web accounts.

Every error has one shape: ``{"error": {"code": "...", "message": "..."}}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.model import MAX_SHORT, MAX_TEXT, SaidFrom, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import commands, views
from conduct_desk.web.deps import (
    ApiActor,
    ApiCaller,
    Caller,
    CaseId,
    Forbidden,
    Web,
    WebState,
    require_step_role,
)

WEB_PEOPLE = "web"  # the platform of people known by their web desk account name
Person = Annotated[str, Field(min_length=1, max_length=300, examples=["slack:U024BE7LH"])]


class Error(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: Error


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": what} for code, what in (
        (401, "no valid bearer token"), (403, "the token's role does not allow this, or the "
                                              "token is recused from the case"),
        (404, "no such case or person"), (409, "the case is not in a state that allows this"),
        (422, "a field is missing, of the wrong type or too long"))
}

router = APIRouter(prefix="/api/v1", tags=["api"], responses=ERRORS)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        """No text holds a NUL character: no database stores one (PostgreSQL refuses it)."""
        for name, value in self:
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and "\x00" in v for v in values):
                raise ValueError(f"{name} holds an invisible NUL character (\\u0000); remove it")
        return self


class ReportIn(Input):
    """A report: only who it is about is needed. No reason or proof is asked."""

    subject: Person
    account: str | None = Field(None, max_length=MAX_TEXT, description=(
        "the reporter's own account of what happened: for the admins only, never shown or "
        "quoted to the person the report is about"))
    words_said: str | None = Field(None, max_length=MAX_TEXT, description=(
        "the exact words that were said, pasted by the reporter: the admins may quote these "
        "to the person, so they should hold nothing about the reporter"))
    message_text: str | None = Field(None, max_length=MAX_TEXT, description=(
        "kept for older clients: read as the reporter's account (admins only, never quoted); "
        "use `account`, and `words_said` for what may be quoted"))
    reporter: Person | None = Field(None, description="file on this person's behalf "
                                    "(moderator and admin tokens only); by default the report "
                                    "is the token's account's")
    anonymous: bool = False
    hurt: list[Person] = Field(default_factory=list, max_length=20)
    note: str | None = Field(None, max_length=MAX_TEXT)
    channel: str | None = Field(None, max_length=MAX_SHORT)
    message_id: str | None = Field(None, max_length=MAX_SHORT)
    message_link: str | None = Field(None, max_length=MAX_SHORT)
    flagrant: bool = False
    hoped_for: str | None = Field(None, max_length=MAX_TEXT, description=(
        "what would help the reporter (optional): for the admins only, never shown or quoted "
        "to the person the report is about"))


class StepIn(Input):
    step: str = Field(min_length=1, max_length=64, examples=["remind"])
    text: str | None = Field(None, max_length=MAX_TEXT, description="send this instead of the "
                             "policy's text")
    duration: str | None = Field(None, max_length=32, examples=["24h"])
    reason: str | None = Field(None, max_length=MAX_SHORT, description="needed when the step is "
                               "not the recommended one")
    suggestion: str | None = Field(None, max_length=MAX_SHORT)


class HandOverIn(Input):
    to: str = Field(min_length=1, max_length=200, description="the admin who takes the case over",
                    examples=["ana", "slack:U0123ADMIN"])


class ConsultIn(Input):
    summary: str = Field(min_length=1, max_length=MAX_TEXT)
    person: Person | None = None
    not_possible: bool = False


class ResolveIn(Input):
    outcome: str = Field(min_length=1, max_length=32,
                         examples=["apologized", "steps-taken", "no-action", "duplicate"])
    reason: str | None = Field(None, max_length=MAX_SHORT, description=(
        "needed for no-action and duplicate, and for apologized when no step was taken "
        "(where the apology was made)"))


class AppealDecisionIn(Input):
    decision: str = Field(min_length=1, max_length=16, examples=["upheld", "overturned", "changed"])
    to: str | None = Field(None, max_length=64, description="changed: the lower step that "
                           "replaces the one appealed", examples=["warn"])
    duration: str | None = Field(None, max_length=32, description="changed to a suspension: "
                                 "how long", examples=["12h"])
    text: str | None = Field(None, max_length=MAX_TEXT, description="send this to the person "
                             "instead of the policy's words for the decision")


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(views.jsonable(value), status_code=status)


def _case(web: WebState, caller: Caller, case_id: int) -> dict[str, Any]:
    detail = views.case_detail(web.app.uow(), web.app.desk, case_id, caller.name,
                                caller.aliases)
    result: dict[str, Any] = views.jsonable(views.case_json(detail))
    return result


def _person(web: WebState, text: str) -> PersonRef:
    return PersonRef.parse(text, web.app.settings.default_platform)




def _own_identity(caller: Caller, subject: PersonRef) -> PersonRef | None:
    """Who a token's own report is from: its account's identity on the subject's platform,
    else the account name as a web person; a role-only token has no one to be."""
    if caller.account is None:
        return None
    for identity in caller.account.identities:
        ref = PersonRef.parse(identity, WEB_PEOPLE)
        if ref.platform == subject.platform:
            return ref
    return PersonRef(WEB_PEOPLE, caller.account.name)


@router.post("/reports", status_code=201)
def create_report(body: ReportIn, web: Web, caller: ApiCaller) -> JSONResponse:
    """File a report; one report opens a case (or joins the open one about the same message).

    The report is the token's account's. ``reporter`` files it on someone else's behalf:
    only moderator and admin tokens may, and the audit log says who filed it."""
    subject = _person(web, body.subject)
    own = _own_identity(caller, subject)
    reporter, filed_by = own, None
    if body.reporter:
        named = _person(web, body.reporter)
        if named != own and (caller.account is None
                             or not any(PersonRef.parse(i, WEB_PEOPLE) == named
                                        for i in caller.account.identities)):
            if not caller.role.may_act:
                raise Forbidden("this token has the observer role, so it files reports only as "
                                "its own account: leave out reporter (filing on someone's behalf "
                                "needs the moderator or admin role)")
            filed_by = caller.name
        reporter = named
    filed = web.app.bus.handle(commands.FileReport(
        subject=subject, reporter=reporter, source=Source.API,
        anonymous=body.anonymous, channel=body.channel, message_id=body.message_id,
        account="\n\n".join(x for x in (body.account, body.message_text) if x) or None,
        message_text=body.words_said, said_from=SaidFrom.PASTED if body.words_said else None,
        message_link=body.message_link,
        harmed=tuple(_person(web, h) for h in body.hurt), note=body.note, flagrant=body.flagrant,
        hoped_for=body.hoped_for, filed_by=filed_by))
    base = web.app.settings.base_url or ""
    return _json({**views.jsonable(filed), "status_url": f"{base}/r/{filed.status_token}"}, 201)


@router.get("/cases")
def list_cases(web: Web, caller: ApiCaller,
               state: Annotated[str, Query(max_length=16)] = "open",
               limit: Annotated[int, Query(ge=1, le=1000)] = 200,
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
               appeals: bool = False, mine: bool = False, unassigned: bool = False,
               flagrant: bool = False, overdue: bool = False,
               platform: Annotated[str, Query(max_length=64)] = "",
               q: Annotated[str, Query(max_length=300)] = "") -> JSONResponse:
    """Cases, most urgent first: ``open`` (default), ``all``, or one state. ``appeals=true``:
    only cases with an appeal waiting for a decision (in any state unless ``state`` says).
    ``mine`` (taken by the token's account), ``unassigned``, ``flagrant``, ``overdue`` and
    ``platform`` narrow the list; ``q`` searches a case number (``12``, ``#12``), a person
    (``sam``, ``sandbox:sam``) or words in the reports (``searched_most``, when present: the
    words are in more reports than that, and across resolved cases only that many were read)."""
    views.parse_states(state)  # an unknown state: a clear 422 before anything is read
    filters = views.QueueFilters(state=state, mine=mine, unassigned=unassigned,
                                 flagrant=flagrant, overdue=overdue, appeals=appeals,
                                 platform=platform, q=q)
    items, _, cap = views.filtered_queue(web.app.uow(), web.app.desk.clock.now(), filters,
                                         caller.names, limit=limit, offset=offset)
    # words in very many reports: across resolved cases only the first reports found were read
    return _json({"cases": [{**views.jsonable(i.summary), "due_at": i.due_at,
                             "deadline": i.deadline} for i in items],
                  **({"searched_most": cap} if cap is not None else {})})


@router.get("/cases/{case_id}")
def show_case(case_id: CaseId, web: Web, caller: ApiCaller) -> JSONResponse:
    """One case with its reports, steps, recommendation and timeline."""
    return _json(_case(web, caller, case_id))


@router.get("/cases/{case_id}/preview")
def preview(case_id: CaseId, web: Web, caller: ApiActor,
            step: Annotated[str, Query(min_length=1, max_length=64)],
            duration: Annotated[str | None, Query(max_length=32)] = None,
            suggestion: Annotated[str | None, Query(max_length=MAX_SHORT)] = None) -> JSONResponse:
    """The exact text a step would send now, without sending it."""
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    composed = views.preview_step(web.app.uow(), web.app.desk, case_id, step, caller.name,
                                  duration=duration, suggestion=suggestion)
    return _json({"step": composed.rung.name, "text": composed.text, "until": composed.until,
                  "quote_from": composed.quote_from or None})


@router.post("/cases/{case_id}/take")
def take(case_id: CaseId, web: Web, caller: ApiActor) -> JSONResponse:
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    web.app.bus.handle(commands.TakeCase(case_id, caller.name))
    return _json(_case(web, caller, case_id))


@router.post("/cases/{case_id}/hand-over")
def hand_over(case_id: CaseId, body: HandOverIn, web: Web, caller: ApiActor) -> JSONResponse:
    """Give the case to another admin: its holder may; a token with the admin role may also
    take a case from a holder who is away."""
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    web.app.bus.handle(commands.HandOver(case_id, caller.name, body.to.strip(),
                                         may_reassign=caller.role.may_reassign))
    return _json(_case(web, caller, case_id))


@router.post("/cases/{case_id}/steps", status_code=201)
def take_step(case_id: CaseId, body: StepIn, web: Web, caller: ApiActor) -> JSONResponse:
    """Take a step of the ladder; the desk carries it out on the platform."""
    rung = web.app.desk.policy.rung(body.step)
    require_step_role(caller.role, rung.action, rung.name)
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    step_id = web.app.bus.handle(commands.TakeStep(case_id, body.step, caller.name, body.duration,
                                                   body.text, body.reason, body.suggestion))
    case = _case(web, caller, case_id)
    step = next(s for s in case["steps"] if s["id"] == step_id)
    return _json({"step": step, "case": case}, 201)


@router.post("/cases/{case_id}/consultations", status_code=201)
def consult(case_id: CaseId, body: ConsultIn, web: Web, caller: ApiActor) -> JSONResponse:
    """Record a consultation with the people hurt (needed before a ban), or why there was none."""
    if bool(body.person) == body.not_possible:
        raise InvalidInput("give person for a consultation, or not_possible: true with the "
                           "reason in summary")
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    web.app.bus.handle(commands.Consult(case_id, caller.name, body.summary,
                                        _person(web, body.person) if body.person else None))
    return _json(_case(web, caller, case_id), 201)


@router.post("/cases/{case_id}/resolve")
def resolve(case_id: CaseId, body: ResolveIn, web: Web, caller: ApiActor) -> JSONResponse:
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    web.app.bus.handle(commands.ResolveCase(case_id, caller.name, body.outcome, body.reason,
                                            may_reassign=caller.role.may_reassign))
    return _json(_case(web, caller, case_id))


@router.post("/cases/{case_id}/reopen")
def reopen(case_id: CaseId, web: Web, caller: ApiActor) -> JSONResponse:
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    web.app.bus.handle(commands.ReopenCase(case_id, caller.name,
                                           may_reassign=caller.role.may_reassign))
    return _json(_case(web, caller, case_id))


@router.get("/cases/{case_id}/appeal/preview")
def preview_appeal(case_id: CaseId, web: Web, caller: ApiActor,
                   decision: Annotated[str, Query(min_length=1, max_length=16)],
                   to: Annotated[str | None, Query(max_length=64)] = None,
                   duration: Annotated[str | None, Query(max_length=32)] = None) -> JSONResponse:
    """The exact message a decision on the case's appeal would send now, without deciding."""
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    draft = views.preview_appeal_decision(web.app.uow(), web.app.desk, case_id, caller.name,
                                          decision, to=to, duration=duration)
    return _json({"decision": draft.decision, "text": draft.text, "undone": draft.undone,
                  "step": draft.step.rung if draft.step else None,
                  "to": draft.replacement.rung.name if draft.replacement else None,
                  "until": draft.replacement.until if draft.replacement else None})


@router.post("/cases/{case_id}/appeal/decide")
def decide_appeal(case_id: CaseId, body: AppealDecisionIn, web: Web,
                  caller: ApiActor) -> JSONResponse:
    """Decide the case's waiting appeal: ``upheld`` (the step stands), ``overturned`` (set
    aside: undone on the platform where it can be, no longer counted) or ``changed`` (to the
    lower step ``to``). Only an admin who did not take the appealed step may decide it; the
    person is told in the policy's words (or ``text``)."""
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    web.app.bus.handle(commands.DecideAppeal(case_id, caller.name, body.decision, body.to,
                                             body.duration, body.text))
    return _json(_case(web, caller, case_id))


class ConfirmHurtIn(Input):
    person: str = Field(min_length=1, max_length=300, description="a person named as hurt, as "
                        "the case's hurt_admins list shows it", examples=["web:bo"])


@router.post("/cases/{case_id}/recuse")
def recuse(case_id: CaseId, web: Web, caller: ApiCaller) -> JSONResponse:
    """Step aside from the case (no reason is asked); the caller cannot see it afterwards."""
    web.app.bus.handle(commands.Recuse(case_id, caller.name))
    return _json({"case_id": case_id, "stepped_aside": caller.name})


@router.post("/cases/{case_id}/confirm-hurt")
def confirm_hurt(case_id: CaseId, body: ConfirmHurtIn, web: Web, caller: ApiActor) -> JSONResponse:
    """Confirm that a person named as hurt was hurt: an admin so confirmed steps aside."""
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    web.app.bus.handle(commands.ConfirmHurt(case_id, caller.name, body.person))
    return _json(_case(web, caller, case_id))


@router.get("/people/{person:path}")
def person(person: str, web: Web, caller: ApiCaller) -> JSONResponse:
    """One person's cases and steps, across platforms' cases about them."""
    if len(person) > 300:
        raise InvalidInput("a person's id has at most 300 characters, e.g. slack:U123")
    return _json(views.person_history(web.app.uow(), _person(web, person), caller.names,
                                     now=web.app.desk.clock.now()))


class LinkIn(Input):
    accounts: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        min_length=2, max_length=20, description="two or more accounts of one person",
        examples=[["slack:U123", "matrix:@ana:example.org"]])


class UnlinkIn(Input):
    account: str = Field(min_length=1, max_length=300, description="the account to take out "
                         "of the person it is linked to", examples=["matrix:@ana:example.org"])


@router.post("/people/links", status_code=201)
def link_accounts(body: LinkIn, web: Web, caller: ApiActor) -> JSONResponse:
    """Link accounts into one person (audited): history and the ladder count across them,
    recusal covers them all, and a step with scope "everywhere" reaches them all."""
    person = web.app.bus.handle(commands.LinkAccounts(tuple(body.accounts), caller.name))
    return _json({"accounts": [str(p) for p in person]}, 201)


@router.post("/people/unlink")
def unlink_account(body: UnlinkIn, web: Web, caller: ApiActor) -> JSONResponse:
    """Take one account out of the person it was linked to (audited)."""
    others = web.app.bus.handle(commands.UnlinkAccount(body.account, caller.name))
    return _json({"account": body.account, "was_linked_to": [str(p) for p in others]})


@router.get("/audit")
def audit(web: Web, caller: ApiCaller,
          actor: Annotated[str | None, Query(max_length=300)] = None,
          case_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
          since: datetime | None = None, until: datetime | None = None,
          limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> JSONResponse:
    """The append-only audit log, oldest first."""
    for value, name in ((since, "since"), (until, "until")):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone, e.g. 2026-11-24T09:00:00Z")
    entries = views.audit_log(web.app.uow(), actor=actor, case_id=case_id, since=since,
                              until=until, limit=limit, viewer=caller.name,
                              aliases=caller.aliases)
    return _json({"entries": entries})


class MessageIn(Input):
    """A follow-up: a question to one report's reporter (answering is optional for them), or
    a message to the person the case is about (refused when it names a reporter or a hurt
    person)."""

    to: Literal["reporter", "subject"]
    report: int | None = Field(None, ge=1, le=2**31 - 1, description="the report whose "
                               "reporter is asked (to: reporter); see the case's reports")
    text: str = Field(min_length=1, max_length=MAX_TEXT)


@router.post("/cases/{case_id}/messages", status_code=201)
def send_message(case_id: CaseId, body: MessageIn, web: Web, caller: ApiActor) -> JSONResponse:
    """Ask a reporter a question, or write to the person the case is about. The case's
    ``messages`` list every follow-up, with what the reporters and the person answered."""
    views.check_access(web.app.uow(), case_id, caller.name, caller.aliases)
    command: commands.Command
    if body.to == "reporter":
        if body.report is None:
            raise InvalidInput("to ask a reporter, give report: the id of their report",
                               field="report")
        command = commands.AskReporter(case_id, caller.name, body.report, body.text)
    else:
        command = commands.WriteToSubject(case_id, caller.name, body.text)
    message_id = web.app.bus.handle(command)
    case = _case(web, caller, case_id)
    message = next(m for m in case["messages"] if m["id"] == message_id)
    return _json({"message": message, "case": case}, 201)
