"""Pages for members and subjects: the report form, the reporter's status, the subject's link.

None of them needs an account. The subject's page never says who reported.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from conduct_desk.domain.errors import DeskError, InvalidInput, NotFound
from conduct_desk.domain.links import is_web_link
from conduct_desk.domain.model import MAX_SHORT, SaidFrom, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import commands, views
from conduct_desk.web.deps import Csrf, Web, WebState, client_key
from conduct_desk.web.pages import error_text, render, status_of

router = APIRouter(include_in_schema=False)

LONG = 100_000
MAX_HURT = 20


def parse_people(text: str, default_platform: str) -> tuple[PersonRef, ...]:
    names = [n for n in text.replace("\n", ",").split(",") if n.strip()]
    if len(names) > MAX_HURT:
        raise InvalidInput(f"you named {len(names)} people; name at most {MAX_HURT}, or add the "
                           "rest in the note")
    for n in names:
        if len(n.strip()) > 300:
            raise InvalidInput("a person's name or id has at most 300 characters")
    return tuple(PersonRef.parse(n, default_platform) for n in names)


def _report_form(request: Request, web: WebState, *, error: str | None = None,
                 form: dict[str, object] | None = None, status: int = 200) -> Response:
    return render(request, "report.html", {
        "error": error, "form": form or {},
        "stamp": web.signer.form_stamp(web.app.desk.clock.now(), "report"),
        "coc_url": web.app.desk.policy.code_of_conduct_url,
    }, status)


@router.get("/report")
def report_page(request: Request, web: Web) -> Response:
    return _report_form(request, web)


@router.post("/report")
def file_report(
    request: Request, web: Web, _csrf: Csrf,
    subject: Annotated[str, Form(max_length=LONG)] = "",
    what: Annotated[str, Form(max_length=LONG)] = "",
    said: Annotated[str, Form(max_length=LONG)] = "",
    link: Annotated[str, Form(max_length=LONG)] = "",
    reporter: Annotated[str, Form(max_length=LONG)] = "",
    anonymous: Annotated[bool, Form()] = False,
    hurt: Annotated[str, Form(max_length=LONG)] = "",
    note: Annotated[str, Form(max_length=LONG)] = "",
    stamp: Annotated[str, Form(max_length=500)] = "",
    website: Annotated[str, Form(max_length=LONG)] = "",  # the honeypot: people never see it
) -> Response:
    now = web.app.desk.clock.now()
    form = {"subject": subject, "what": what, "said": said, "link": link, "reporter": reporter,
            "anonymous": anonymous, "hurt": hurt, "note": note}
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
            raise InvalidInput("Please say who it is about (a name or id such as slack:U123).")
        if not (what.strip() or said.strip()):
            raise InvalidInput("Please say what happened, or paste the words that were said.")
        for value, label in ((subject, "who it is about"), (reporter, "your name")):
            if len(value.strip()) > 300:
                raise InvalidInput(f"{label} has at most 300 characters")
        if len(link.strip()) > MAX_SHORT:
            raise InvalidInput(f"the link has more than {MAX_SHORT} characters; shorten it")
        if link.strip() and not is_web_link(link.strip()):
            raise InvalidInput("the link should start with https:// (or leave it empty)")
        filed = web.app.bus.handle(commands.FileReport(
            subject=PersonRef.parse(subject, default),
            reporter=PersonRef.parse(reporter, default) if reporter.strip() else None,
            source=Source.WEB, anonymous=anonymous or not reporter.strip(),
            account=what.strip() or None, message_text=said.strip() or None,
            said_from=SaidFrom.PASTED if said.strip() else None, message_link=link.strip() or None,
            harmed=parse_people(hurt, default), note=note.strip() or None))
    except DeskError as exc:
        return _report_form(request, web, error=error_text(exc), form=form, status=status_of(exc))
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
    return render(request, "status.html", {
        "s": status, "new": new, "take_within": web.app.desk.policy.deadlines.take_within,
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
