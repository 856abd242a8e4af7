"""Pages for members and subjects: the report form, the reporter's status, the subject's link.

None of them needs an account. The subject's page never says who reported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from conduct_desk.domain.errors import DeskError, InvalidInput, NotFound
from conduct_desk.domain.links import is_web_link
from conduct_desk.domain.model import MAX_SHORT, MAX_TEXT, SaidFrom, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import audit, commands, lookup, views
from conduct_desk.service.lookup import platform_label
from conduct_desk.service.ports import Candidate
from conduct_desk.web.deps import Csrf, Web, WebState, client_key
from conduct_desk.web.pages import error_text, render, status_of

router = APIRouter(include_in_schema=False)

LONG = 100_000
MAX_HURT = 20


def parse_people(text: str, default_platform: str) -> tuple[PersonRef, ...]:
    names = [n for n in text.replace("\n", ",").split(",") if n.strip()]
    if len(names) > MAX_HURT:
        raise InvalidInput(f"you named {len(names)} people; name at most {MAX_HURT}, or add the "
                           "rest in the note", field="hurt")
    for n in names:
        if len(n.strip()) > 300:
            raise InvalidInput("a person's name or id has at most 300 characters", field="hurt")
    return tuple(PersonRef.parse(n, default_platform) for n in names)


# the form's fields, as error messages name them
REPORT_FIELDS = {"subject": "“Who is it about?”", "what": "“What happened?”",
                 "said": "“The exact words”", "link": "“Link to the message”",
                 "reporter": "“Your name”", "hurt": "“Others who were hurt”",
                 "note": "“Anything else”", "hoped_for": "“What would help you?”"}


def _report_form(request: Request, web: WebState, *, error: str | None = None,
                 field: str | None = None, form: dict[str, object] | None = None,
                 status: int = 200, candidates: tuple[Candidate, ...] = (),
                 stamp: str | None = None) -> Response:
    platforms = web.app.desk.platforms
    finders = lookup.finders(platforms)
    able = [platform_label(p.name) for p in finders]
    unable = [platform_label(name) for name, p in sorted(platforms.items())
              if p not in finders and name != "sandbox"]
    return render(request, "report.html", {
        "error": error[:1].upper() + error[1:] if error else None,
        "field": field if field in REPORT_FIELDS else None,
        "form": form or {}, "candidates": candidates,
        "stamp": stamp or web.signer.form_stamp(web.app.desk.clock.now(), "report"),
        "coc_url": web.app.desk.policy.code_of_conduct_url,
        "finds_on": " and ".join(able), "no_lookup_on": " and ".join(unable),
        "handle_examples": lookup.handle_examples(platforms),
        "platform_label": platform_label,
    }, status)


@router.get("/report")
def report_page(request: Request, web: Web) -> Response:
    return _report_form(request, web)


def _who(request: Request, web: WebState, subject: str, pick: str, picked_for: str,
             now: datetime) -> lookup.Found:
    """The person the reporter means: a pick from the list, a raw id, or a name looked up on
    the platforms (counted against the visitor's look-ups)."""
    platforms, default = web.app.desk.platforms, web.app.settings.default_platform
    chosen = PersonRef.typed(pick) if pick and picked_for.strip() == subject.strip() else None
    if chosen is not None and chosen.platform in platforms:
        return lookup.Found(chosen)
    if PersonRef.typed(subject) is not None or not lookup.finders(platforms):
        return lookup.find_person(platforms, subject, default)  # nothing to look up
    client = client_key(request)
    if web.lookups_by_client.blocked(client, now):
        minutes = int(web.config.lookup_window.total_seconds() // 60)
        raise InvalidInput(f"many names were looked up from here in the last {minutes} minutes; "
                           "type their handle as it appears in the chat (e.g. "
                           f"{lookup.handle_examples(platforms)}), or try again later",
                           field="subject")
    web.lookups_by_client.hit(client, now)
    return lookup.find_person(platforms, subject, default)


@router.post("/report")
def file_report(
    request: Request, web: Web, _csrf: Csrf,
    subject: Annotated[str, Form(max_length=LONG)] = "",
    pick: Annotated[str, Form(max_length=LONG)] = "",
    picked_for: Annotated[str, Form(max_length=LONG)] = "",
    what: Annotated[str, Form(max_length=LONG)] = "",
    said: Annotated[str, Form(max_length=LONG)] = "",
    link: Annotated[str, Form(max_length=LONG)] = "",
    reporter: Annotated[str, Form(max_length=LONG)] = "",
    anonymous: Annotated[bool, Form()] = False,
    serious: Annotated[bool, Form()] = False,
    hurt: Annotated[str, Form(max_length=LONG)] = "",
    note: Annotated[str, Form(max_length=LONG)] = "",
    hoped_for: Annotated[str, Form(max_length=LONG)] = "",
    stamp: Annotated[str, Form(max_length=500)] = "",
    website: Annotated[str, Form(max_length=LONG)] = "",  # the honeypot: people never see it
) -> Response:
    now = web.app.desk.clock.now()
    form = {"subject": subject, "what": what, "said": said, "link": link, "reporter": reporter,
            "anonymous": anonymous, "serious": serious, "hurt": hurt, "note": note,
            "hoped_for": hoped_for}
    client = client_key(request)
    if web.reports_by_client.blocked(client, now):
        minutes = int(web.config.report_window.total_seconds() // 60)
        return _report_form(request, web, status=429, form=form, error=(
            f"Many reports came from here in the last {minutes} minutes, so this one was not "
            "sent. Please try again later, or tell an admin directly."))
    started = web.signer.read_form_stamp(stamp, "report")
    if website.strip() or started is None or now - started < web.config.min_fill:
        return _report_form(request, web, status=422, form=form, error=(
            "This looked automated, so it was not sent. Please check the fields and send it "
            "again."))
    if now - started > web.config.max_fill:
        return _report_form(request, web, status=422, form=form, error=(
            "This form was open a long time, so it was not sent. Please check it and send it "
            "again."))
    default = web.app.settings.default_platform
    try:
        if not subject.strip():
            raise InvalidInput("Please say who it is about: their name or their handle in the "
                               "chat.", field="subject")
        if not (what.strip() or said.strip()):
            raise InvalidInput("Please say what happened, or paste the words that were said.",
                               field="what")
        for value, name in ((subject, "subject"), (reporter, "reporter")):
            if len(value.strip()) > 300:
                raise InvalidInput(f"{REPORT_FIELDS[name]} has at most 300 characters",
                                   field=name)
        if len(link.strip()) > MAX_SHORT:
            raise InvalidInput(f"the link has more than {MAX_SHORT} characters; shorten it",
                               field="link")
        if link.strip() and not is_web_link(link.strip()):
            raise InvalidInput("the link should start with https:// (or leave it empty)",
                               field="link")
        for value, name in ((what, "what"), (said, "said"), (note, "note"),
                            (hoped_for, "hoped_for")):
            if len(value.strip()) > MAX_TEXT:
                raise InvalidInput(f"{REPORT_FIELDS[name]} has more than {MAX_TEXT} characters; "
                                   "shorten it", field=name)
        harmed = parse_people(hurt, default)
        found = _who(request, web, subject, pick, picked_for, now)
        if found.person is None:  # several match: the reporter picks one, nothing is lost
            return _report_form(request, web, form=form, candidates=found.candidates,
                                stamp=stamp)
        filed = web.app.bus.handle(commands.FileReport(
            subject=found.person,
            reporter=PersonRef.parse(reporter, default) if reporter.strip() else None,
            source=Source.WEB, anonymous=anonymous or not reporter.strip(),
            account=what.strip() or None, message_text=said.strip() or None,
            said_from=SaidFrom.PASTED if said.strip() else None, message_link=link.strip() or None,
            harmed=harmed, note=note.strip() or None, flagrant=serious,
            hoped_for=hoped_for.strip() or None))
    except DeskError as exc:
        return _report_form(request, web, error=error_text(exc, REPORT_FIELDS), field=exc.field,
                            form=form, status=status_of(exc))
    web.reports_by_client.hit(client, now)
    return RedirectResponse(f"/r/{filed.status_token}?new=1", status_code=303)


@router.get("/r/{token}")
def reporter_status(request: Request, web: Web, token: str, new: str = "") -> Response:
    status = views.reporter_status(web.app.uow(), web.app.desk, token)
    if status is None:
        raise NotFound("this status link is not known; check that it was copied whole")
    return _status_page(request, web, token, status, new=bool(new))


def _status_page(request: Request, web: WebState, token: str, status: views.ReporterStatus,
                 *, new: bool = False, answer: dict[str, object] | None = None,
                 code: int = 200) -> Response:
    base = web.app.settings.base_url or str(request.base_url)
    return render(request, "status.html", {
        "s": status, "new": new, "take_within": web.app.desk.policy.deadlines.take_within,
        "status_url": f"{base.rstrip('/')}/r/{token}",
        "token": token, "answer": answer or {},
        "answered": request.query_params.get("done") == "answered"}, code)


@router.post("/r/{token}/answer")
def answer_question(request: Request, web: Web, _csrf: Csrf, token: str,
                    question: Annotated[int, Form(ge=1, le=2**31 - 1)],
                    text: Annotated[str, Form(max_length=LONG)] = "") -> Response:
    """The reporter answers an admins' question about their report (it was optional)."""
    status = views.reporter_status(web.app.uow(), web.app.desk, token)
    if status is None:
        raise NotFound("this status link is not known; check that it was copied whole")
    try:
        web.app.bus.handle(commands.AnswerQuestion(status.case_id, status.report_id, question,
                                                   text))
    except DeskError as exc:
        return _status_page(request, web, token, status, code=status_of(exc), answer={
            "question": question, "text": text,
            "error": error_text(exc, {"text": "your answer", "question": "the question"})})
    return RedirectResponse(f"/r/{token}?done=answered#questions", status_code=303)


@router.get("/r/{token}/proof")
def report_proof(web: Web, token: str) -> Response:
    """That the report is in the audit log: an inclusion proof (its leaf's place and hash, the
    audit path, the checkpoint), with nothing of its content or of any other entry."""
    proof = audit.proof_for_report(web.app.uow(), token, web.app.signer, web.app.desk.clock.now())
    if proof is None:
        raise NotFound("this status link is not known; check that it was copied whole")
    return JSONResponse(proof.as_json(), headers={"Cache-Control": "no-store"})


@router.get("/audit/checkpoint")
def audit_checkpoint(web: Web) -> Response:
    """The audit log's latest checkpoint, signed when the desk has a key (and saying so when
    not): keep it, and check later that the log still starts with it."""
    made = audit.make_checkpoint(web.app.uow(), web.app.signer, web.app.desk.clock.now())
    return JSONResponse(made.checkpoint.as_json(), headers={"Cache-Control": "no-store"})


def _subject(web: WebState, token: str) -> tuple[int, PersonRef]:
    found = views.subject_of(web.app.uow(), token)
    if found is None:
        raise NotFound("this link is not known; check that it was copied whole")
    return found


def _subject_page(request: Request, web: WebState, token: str, *, error: str | None = None,
                  appeal: str = "", status: int = 200,
                  write: dict[str, str] | None = None) -> Response:
    page = views.subject_page(web.app.uow(), web.app.desk, token)
    if page is None:
        raise NotFound("this link is not known; check that it was copied whole")
    return render(request, "subject.html", {
        "p": page, "token": token, "error": error, "appeal": appeal,
        "done": {"confirmed": "Thank you: the admins can see that you re-read it.",
                 "appealed": "Your appeal is with the admins. They will look at it.",
                 "written": "Your message is with the admins."}
        .get(request.query_params.get("done", "")),
        "write": write or {},
    }, status)


@router.get("/s/{token}")
def subject_page(request: Request, web: Web, token: str) -> Response:
    return _subject_page(request, web, token)


@router.post("/s/{token}/confirm")
def confirm(request: Request, web: Web, _csrf: Csrf, token: str) -> Response:
    case_id, person = _subject(web, token)
    web.app.bus.handle(commands.ConfirmReread(case_id, person))
    return RedirectResponse(f"/s/{token}?done=confirmed", status_code=303)


@router.post("/s/{token}/appeal")
def appeal(request: Request, web: Web, _csrf: Csrf, token: str,
           text: Annotated[str, Form(max_length=LONG)] = "") -> Response:
    case_id, person = _subject(web, token)
    try:
        web.app.bus.handle(commands.Appeal(case_id, person, text))
    except DeskError as exc:
        return _subject_page(request, web, token, error=error_text(exc), appeal=text,
                             status=status_of(exc))
    return RedirectResponse(f"/s/{token}?done=appealed", status_code=303)


@router.post("/s/{token}/write")
def write_to_admins(request: Request, web: Web, _csrf: Csrf, token: str,
                    text: Annotated[str, Form(max_length=LONG)] = "") -> Response:
    """The person a case is about writes to the admins (the follow-ups, both ways)."""
    case_id, person = _subject(web, token)
    try:
        web.app.bus.handle(commands.SubjectWrites(case_id, person, text))
    except DeskError as exc:
        return _subject_page(request, web, token, status=status_of(exc), write={
            "text": text, "error": error_text(exc, {"text": "your message"})})
    return RedirectResponse(f"/s/{token}?done=written#messages", status_code=303)
