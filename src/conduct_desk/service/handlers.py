"""Command and event handlers: the desk's behaviour, one function per message.

Each handler gets the command, a unit of work and the :class:`Desk` (policy, clock,
platforms). Platform calls happen outside database transactions: the step is recorded
first (so it is never lost), then carried out, then its outcome recorded.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from conduct_desk.domain import events
from conduct_desk.domain.durations import format_duration, humanize_span, parse_duration
from conduct_desk.domain.emails import EmailKind
from conduct_desk.domain.errors import (
    AlreadyFiled,
    ConfidentialityError,
    Conflict,
    DeskError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    StorageUnavailable,
)
from conduct_desk.domain.identities import EffectTarget, own_effects
from conduct_desk.domain.ladder import PastStep, recommend
from conduct_desk.domain.links import is_web_link
from conduct_desk.domain.model import (
    DECISION_WORDS,
    MAX_SHORT,
    MAX_TEXT,
    AppealDecision,
    Case,
    CaseState,
    Consultation,
    Note,
    NoteKind,
    Outcome,
    Report,
    SaidFrom,
    Source,
    Step,
    StepStatus,
    as_handed_over,
    check_text,
)
from conduct_desk.domain.notices import Notice, NoticeKind, NoticeStatus, Purpose
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import DEFAULT_NOUNS, Action, Policy, Rung, Scope
from conduct_desk.domain.privacy import ERASED_PREFIX
from conduct_desk.domain.standing import standing
from conduct_desk.domain.timers import Timer, TimerKind
from conduct_desk.service import commands, emails, identities
from conduct_desk.service import notices as outbox
from conduct_desk.service.ports import (
    AuditEntry,
    Capability,
    CaseFilter,
    Clock,
    Effect,
    EffectStatus,
    Mailer,
    NoticeDeliverer,
    Platform,
    UnitOfWork,
)
from conduct_desk.service.roster import KnownAdmin, PlatformAdmin, acting, everyone, identify
from conduct_desk.service.texts import (
    APPEAL_TEXTS,
    NameGuard,
    check_confidential,
    field_words,
    format_when,
    render,
    render_for_subject,
    subject_context,
)

logger = logging.getLogger(__name__)

DESK = "desk"  # the actor recorded for what the desk does by itself
RUN_STEP_GRACE = timedelta(minutes=5)
# sources whose message text is the message itself, as the platform gave it
CHAT_SOURCES = frozenset({Source.SLACK, Source.MATRIX, Source.DISCORD})


def handed_over(source: Source, text: str | None) -> str | None:
    """A reported message's text: from a chat platform it is the message itself, which the
    reporter cannot shorten (kept, cut if need be); typed anywhere else, checked."""
    if source in CHAT_SOURCES:
        return as_handed_over(text)
    return check_text(text, "the message text")


@dataclass
class Desk:
    """What every handler may use besides the unit of work."""

    policy: Policy
    clock: Clock
    platforms: dict[str, Platform] = field(default_factory=dict)
    base_url: str | None = None  # the web desk's public address, for private links
    # admins configured on chat platforms, by the name cases record; adapters fill it in
    # how long a worker may take over a notice or a timer before another takes it (it died)
    lease: timedelta = timedelta(minutes=5)
    platform_admins: dict[str, PlatformAdmin] = field(default_factory=dict)
    # how each chat platform names a channel (``#community``); chat desks fill it in
    channel_namers: dict[str, Callable[[str], str]] = field(default_factory=dict)
    # how each chat platform names a person (their display name), by user id
    person_namers: dict[str, Callable[[str], str]] = field(default_factory=dict)
    # how a chat platform delivers a kind of notice (e.g. a case card, a threaded answer),
    # by (platform name, kind); unregistered: the Platform's send_dm / notify_admins
    notice_senders: dict[tuple[str, NoticeKind], Callable[[Notice], Effect]] = field(
        default_factory=dict)
    # emails the on-duty admins (service/emails.py); None: no mail server is configured
    mailer: Mailer | None = None
    # tries intake's notices after the caller has its answer (``conduct serve``); None: the
    # handler tries them before it returns
    deliverer: NoticeDeliverer | None = None
    _names: dict[PersonRef, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def channel_label(self, case: Case) -> str | None:
        """The case's channel as people know it (``#community``), or None (then the id)."""
        namer = self.channel_namers.get(case.subject.platform)
        if namer is None or not case.channel:
            return None
        try:
            return namer(case.channel)
        except Exception:  # a name is a courtesy: the id still says where
            logger.warning("could not name a channel on %s", case.subject.platform)
            return None

    def name_of(self, person: PersonRef) -> str | None:
        """The person's display name on their platform, or None (then their id)."""
        namer = self.person_namers.get(person.platform)
        if namer is None:
            return None
        try:
            return namer(person.user_id) or None
        except Exception:  # a name is a courtesy: the id still says who
            logger.warning("could not name a person on %s", person.platform)
            return None

    def admin_label(self, admin: str) -> str:
        """An admin as the people the desk writes to know them: a name recorded as
        ``platform:id`` becomes their display name there."""
        platform, sep, user_id = admin.partition(":")
        if sep and platform in self.person_namers and user_id:
            return self.name_of(PersonRef(platform, user_id)) or admin
        return admin

    def platform_for(self, person: PersonRef) -> Platform | None:
        return self.platforms.get(person.platform)

    def known_names(self, person: PersonRef) -> tuple[str, ...]:
        """The names the person's platform knows them by (display name, real name...);
        remembered for this process. A failed look-up gives none: the id still counts."""
        if person not in self._names:
            platform = self.platform_for(person)
            try:
                names = platform.known_names(person) if platform is not None else ()
            except Exception:  # a look-up must never stop a step; the id is still guarded
                logger.warning("could not look up a person's names on %s", person.platform)
                return ()
            self._names[person] = tuple(n for n in names if isinstance(n, str) and n.strip())
        return self._names[person]

    def name_guard(self, case: Case, sender: str | None = None) -> NameGuard:
        """The reporters' and the hurt people's names to keep out of the subject's texts
        (``sender``: the admin who signs the text, see :meth:`NameGuard.for_case`)."""
        return NameGuard.for_case(case, self.known_names, sender)

    def confirm_hint(self, case: Case) -> str:
        if self.base_url and case.subject_token:
            return f"Please confirm here once you have: {self.base_url}/s/{case.subject_token}"
        platform = self.platform_for(case.subject)
        hint = getattr(platform, "confirm_hint", None)
        return hint if isinstance(hint, str) else "Please reply to let the admins know once you have."


@dataclass(frozen=True)
class Filed:
    case_id: int
    report_id: int
    status_token: str
    opened_case: bool


@dataclass(frozen=True)
class Composed:
    """A step's text and timing, as it would be sent now."""

    rung: Rung
    text: str
    until: datetime | None
    duration: timedelta | None
    quote_from: str = ""  # where a quoted message came from: "fetched from Slack", ...


# -- intake --------------------------------------------------------------------------------


def file_report(cmd: commands.FileReport, uow: UnitOfWork, desk: Desk) -> Filed:
    """Open a case, or join the open case about the same message. Needs no reason."""
    # an empty channel or message id is none: no message to join or to look for
    cmd = replace(cmd, channel=(cmd.channel or "").strip() or None,
                  message_id=(cmd.message_id or "").strip() or None)
    check_text(cmd.note, "the note")
    text = handed_over(cmd.source, cmd.message_text)
    for value, what in ((cmd.channel, "the channel"), (cmd.message_id, "the message id"),
                        (cmd.message_link, "the message link")):
        check_text(value, what, MAX_SHORT)
    if cmd.message_link is not None and not is_web_link(cmd.message_link):
        raise InvalidInput("the message link must be a web address starting with https:// "
                           "(or http://); leave it out when there is none")
    if cmd.reporter is not None and cmd.reporter == cmd.subject:
        raise InvalidInput("the reporter and the subject are the same person; name who it is about")
    check_text(cmd.account, "the account of what happened")
    check_text(cmd.hoped_for, "what would help you")
    link, said_from = cmd.message_link, cmd.said_from
    account = (cmd.account or "").strip() or None
    if text and said_from is None:
        if cmd.source in CHAT_SOURCES:
            said_from = SaidFrom.FETCHED  # a chat platform hands over the message itself
        else:  # where it came from is unclear: the reporter's account, never quoted
            account = "\n\n".join(x for x in (account, text.strip()) if x) or None
            text = None
    if cmd.channel and cmd.message_id and not text:
        platform = desk.platform_for(cmd.subject)
        if platform is not None and Capability.FETCH in platform.capabilities:
            fetched = platform.fetch_message(cmd.channel, cmd.message_id)
            if fetched is not None:
                fetched_link = fetched.link if fetched.link and is_web_link(fetched.link) else None
                text = as_handed_over(fetched.text)
                link, said_from = link or fetched_link, SaidFrom.FETCHED
    now = desk.clock.now()
    anonymous = cmd.anonymous or cmd.reporter is None
    # an anonymous reporter named as hurt would be named to the admins: they count as
    # hurt as the reporter already, unnamed
    harmed = tuple(p for p in dict.fromkeys(cmd.harmed)
                   if p != cmd.subject and not (anonymous and p == cmd.reporter))
    report = Report(
        subject=cmd.subject, reporter=cmd.reporter, filed_at=now, source=cmd.source,
        anonymous=anonymous, channel=cmd.channel,
        message_id=cmd.message_id, message_text=text, message_link=link,
        harmed=harmed,
        note=cmd.note or None, flagrant=cmd.flagrant, status_token=secrets.token_urlsafe(24),
        said_from=said_from if text else None, account=account,
        hoped_for=(cmd.hoped_for or "").strip() or None,
    )
    for attempt in range(3):
        try:
            return _file(report, uow, desk, now, cmd.mark, cmd.filed_by)
        except Conflict:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _file(report: Report, uow: UnitOfWork, desk: Desk, now: datetime,
          mark: tuple[str, str] | None, filed_by: str | None = None) -> Filed:
    subject_name = desk.name_of(report.subject)  # may ask the platform: not inside the transaction
    with uow:
        reporter = report.reporter  # who to thank now, even when their id is not kept
        kept = not (report.anonymous and reporter is not None and not uow.can_seal)
        if not kept:  # no key to seal an anonymous id: keep none (nothing else is lost)
            report = replace(report, reporter=None)
        d = desk.policy.deadlines
        case = Case(subject=report.subject, opened_at=now, channel=report.channel,
                    message_id=report.message_id, subject_token=secrets.token_urlsafe(24),
                    take_due_at=now + d.take_within, step_due_at=now + d.first_step_within)
        case.add_report(report)
        if not (report.channel and report.message_id):
            uow.cases.add(case)
            opened = True
        else:  # a new case unless one about the message is open; that one is joined then
            opened = uow.cases.add_unless_open(case)
        if not opened:
            assert report.channel and report.message_id
            open_case = uow.cases.open_case_for_message(report.subject, report.channel,
                                                        report.message_id)
            if open_case is None:  # resolved between the two statements: file it again
                raise Conflict("the open case about this message was resolved just now; "
                               "try again")
            case = open_case
            case.add_report(report)
            uow.cases.save(case)
        assert case.id is not None
        report_id = case.reports[-1].id
        assert report_id is not None
        who = "anonymous report" if report.anonymous else f"report by {report.reporter}"
        flag = ", marked flagrant" if report.flagrant else ""
        verb = "opened the case" if opened else "joined the case"
        actor = str(report.reporter) if not report.anonymous else "anonymous"
        if filed_by is not None:  # never names an anonymous reporter, even so
            actor = filed_by
            whom = "an anonymous reporter" if report.anonymous else str(report.reporter)
            verb += f"; filed by {filed_by} on behalf of {whom}"
        audit(uow, now, actor, "report.filed", f"{who} via {report.source}{flag}; {verb}", case.id,
              report_id=report_id, hurt=len(report.harmed))
        deadlines: list[Timer] = []
        if opened:
            assert case.take_due_at is not None and case.step_due_at is not None
            deadlines = [Timer(TimerKind.TAKE_DEADLINE, case.take_due_at, case.id),
                         Timer(TimerKind.STEP_DEADLINE, case.step_due_at, case.id)]
        filed = events.ReportFiled(
            case.id, report_id, opened, case.subject, reporter, case.flagrant,
            len(case.harmed), anonymous=report.anonymous,
            message_reporter=report.source is not Source.WEB, reporter_kept=kept,
            status_token=report.status_token, take_due_at=case.take_due_at)
        # promised in the same transaction as the report: one commit, and no thanks lost
        # (the case's deadlines are scheduled with the notices' safety nets: one statement)
        notices = outbox.record_all(uow, desk, intake_notices(filed, desk, subject_name),
                                    timers=deadlines)
        case.events.append(replace(filed, notices=tuple(notices)))
        if mark is not None and not uow.cursors.claim(*mark):
            raise AlreadyFiled(f"report {mark[0]} is on file already")  # rolled back
        uow.commit()
        assert report.status_token is not None
        return Filed(case.id, report_id, report.status_token, opened)


def acknowledge_reporter(event: events.ReportFiled, uow: UnitOfWork, desk: Desk) -> None:
    """Thank the reporter at once, ask nothing, and tell the admins a case is waiting.

    Both were kept in the outbox (:mod:`conduct_desk.service.notices`) with the report, by
    :func:`intake_notices`: a message the platform asks the desk to hold back is delivered
    later; one that cannot go is audited on the case (``notice.failed``: someone must then
    reach the reporter another way). A desk with a deliverer (``conduct serve``) tries them
    on its thread, after the caller has its answer."""
    if desk.deliverer is not None:
        desk.deliverer.submit(event.notices)
    else:
        outbox.deliver_all(uow, desk, list(event.notices))
    if event.opened_case:
        emails.email_admins(uow, desk, event.case_id, EmailKind.NEW_CASE)


def intake_notices(event: events.ReportFiled, desk: Desk,
                   subject_name: str | None) -> list[Notice]:
    """The thanks for the reporter (when the desk can reach them) and, for a new case, the
    line for the admins on each platform that can tell them."""
    notices: list[Notice] = []
    reporter = event.reporter
    platform = desk.platforms.get(reporter.platform) if reporter is not None else None
    if (reporter is not None and event.message_reporter and platform is not None
            and Capability.DM in platform.capabilities):
        text = render(desk.policy.texts["acknowledgement"], {
            "case_id": event.case_id,
            "take_within": humanize_span(desk.policy.deadlines.take_within),
            "take_by": format_when(event.take_due_at) if event.take_due_at else "",
        }, "texts.acknowledgement")
        if not event.reporter_kept:
            text += "\n\n" + unkept_reporter_line(desk, event.status_token)
        notices.append(Notice(platform.name, NoticeKind.DM, text, to=reporter,
                              case_id=event.case_id, purpose=Purpose.ACKNOWLEDGEMENT,
                              anonymous=event.anonymous))
    if event.opened_case:
        hurt = event.hurt
        line = (f"New case {event.case_id} about {subject_name or event.subject}"
                + (" — reported as flagrant" if event.flagrant else "")
                + (f"; {hurt} {'person' if hurt == 1 else 'people'} hurt" if hurt else "")
                + ". Please take it.")
        notices += [Notice(p.name, NoticeKind.ADMINS, line, case_id=event.case_id)
                    for p in _admin_platforms(desk, event.subject)]
    return notices


def unkept_reporter_line(desk: Desk, status_token: str | None) -> str:
    """Said to an anonymous reporter whose id the desk cannot keep (no key is set)."""
    where = (f" Follow your report here instead: {desk.base_url}/r/{status_token}"
             if desk.base_url and status_token else "")
    return ("To keep you anonymous, the desk does not keep your id, so this is the only "
            f"message you will get from it about this report.{where}")


# -- admins' commands ----------------------------------------------------------------------


def _acting(uow: UnitOfWork, desk: Desk, case: Case, name: str) -> KnownAdmin:
    """The admin a command names, known to the desk and allowed to act, and not involved in
    the case by any of their names (account, platform ids)."""
    _admin_name(name)
    admin = acting(uow, desk.platform_admins, name)
    for alias in admin.names:
        case.check_not_recused(alias)
    return admin


def take_case(cmd: commands.TakeCase, uow: UnitOfWork, desk: Desk) -> None:
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        admin = _acting(uow, desk, case, cmd.admin).name
        case.take(admin, now)
        uow.cases.save(case)
        uow.timers.cancel(cmd.case_id, (TimerKind.TAKE_DEADLINE, TimerKind.ESCALATION))
        audit(uow, now, admin, "case.taken", f"{admin} took the case", cmd.case_id)
        uow.commit()


def hand_over(cmd: commands.HandOver, uow: UnitOfWork, desk: Desk) -> None:
    """Hand a case over. A new holder who is involved only in a way the other admins cannot
    see (an anonymous reporter) gets the case like anyone else, and is told on the case that
    they must step aside; see :meth:`Case.hand_over` for why."""
    if not cmd.to.strip():
        raise InvalidInput("--to is empty: name the admin who takes the case over",
                           problem="name the admin who takes the case over", field="to")
    check_text(cmd.to, "the name of the admin taking over", 200)
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        admin = _acting(uow, desk, case, cmd.admin)
        to = acting(uow, desk.platform_admins, cmd.to, "--to")
        holder = case.taken_by
        case.hand_over(admin.name, to.name, now,
                       may_reassign=cmd.may_reassign and admin.role.may_reassign,
                       to_aliases=tuple(dict.fromkeys(cmd.to_aliases + to.aliases)))
        uow.cases.save(case)
        uow.timers.cancel(cmd.case_id, (TimerKind.TAKE_DEADLINE, TimerKind.ESCALATION))
        was = f" (it was {holder}'s)" if holder not in (None, admin.name) else ""
        audit(uow, now, admin.name, "case.handed_over",
              f"{admin.name} handed the case to {to.name}{was}", cmd.case_id)
        uow.commit()


def recuse(cmd: commands.Recuse, uow: UnitOfWork, desk: Desk) -> None:
    """An admin steps aside. No reason is asked or recorded: any admin may, so a recusal says
    nothing about why (an anonymous reporter handed the case steps aside this way too)."""
    _admin_name(cmd.admin)
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        admin = identify(uow, desk.platform_admins, cmd.admin)
        freed = case.recuse(admin.name, now, admin.aliases)
        uow.cases.save(case)
        if freed and case.is_open:
            uow.timers.schedule(Timer(TimerKind.TAKE_DEADLINE,
                                      now + desk.policy.deadlines.take_within, cmd.case_id))
        audit(uow, now, admin.name, "case.recused", f"{admin.name} stepped aside"
              + ("; the case is free for another admin" if freed else ""), cmd.case_id)
        backup = _everyone_recused(uow, desk, case, now)
        uow.commit()
    _after_involvement(uow, desk, case, freed, backup)


def confirm_hurt(cmd: commands.ConfirmHurt, uow: UnitOfWork, desk: Desk) -> None:
    """Another admin confirms that someone named as hurt was hurt: an admin so confirmed
    steps aside from now on (naming alone does not recuse anyone)."""
    if not cmd.person.strip():
        raise InvalidInput("--person is empty: name the person who was hurt, as the case shows",
                           problem="name the person who was hurt, as the case shows",
                           field="person")
    check_text(cmd.person, "the person", MAX_SHORT)
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        admin = _acting(uow, desk, case, cmd.admin)
        holder = case.taken_by
        holder_names = _names_of(uow, desk, holder) if holder else ()
        case.confirm_hurt(admin.name, PersonRef.parse(cmd.person), now, holder_names)
        person = case.confirmed_hurt[-1]
        freed = holder is not None and case.taken_by is None
        uow.cases.save(case)
        if freed:
            uow.timers.schedule(Timer(TimerKind.TAKE_DEADLINE,
                                      now + desk.policy.deadlines.take_within, cmd.case_id))
        audit(uow, now, admin.name, "case.hurt-confirmed",
              f"{admin.name} confirmed that {person} was hurt", cmd.case_id)
        backup = _everyone_recused(uow, desk, case, now)
        uow.commit()
    _after_involvement(uow, desk, case, freed, backup)


def _names_of(uow: UnitOfWork, desk: Desk, admin: str) -> tuple[str, ...]:
    """All the names of a known admin (account, platform ids); just ``admin`` otherwise."""
    try:
        return identify(uow, desk.platform_admins, admin).names
    except DeskError:
        return (admin,)


def everyone_recused(case: Case, known: list[KnownAdmin]) -> bool:
    """True when no admin the desk knows may act on the case: it goes to the backup admins.

    Only what every admin sees counts (an anonymous reporter's own admin account does not):
    otherwise the card would show that some admin is involved for a hidden reason. An
    anonymous reporter who is asked to act steps aside, which then counts."""
    return all(any(case.visibly_involves(n) for n in k.names) for k in known if k.role.may_act)


def _everyone_recused(uow: UnitOfWork, desk: Desk, case: Case, now: datetime) -> bool:
    if not case.is_open or not everyone_recused(case, everyone(uow, desk.platform_admins)):
        return False
    assert case.id is not None
    audit(uow, now, DESK, "case.to-backup", "every admin is involved; the case goes to the "
          f"backup admins ({', '.join(desk.policy.backup) or 'none set'})", case.id)
    return True


def _after_involvement(uow: UnitOfWork, desk: Desk, case: Case, freed: bool,
                       backup: bool) -> None:
    if backup:
        _tell_admins(uow, desk, case, backup_text(case, desk.policy))
        emails.email_admins(uow, desk, case.id, EmailKind.BACKUP,
                            detail="every admin the desk knows is involved in it")
    elif freed:
        _tell_admins(uow, desk, case, f"Case {case.id} has no admin on it now; please take it.")


def backup_text(case: Case, policy: Policy) -> str:
    """What the admins (and backups) are told when every admin is involved in a case."""
    who = ", ".join(policy.backup)
    return (f"Case {case.id}: every admin of the desk is involved in it, so it goes to the "
            + (f"backup admins: {who}. Please take it." if who else
               "backup admins, but the policy names none ([admins] backup); add them."))


def compose_step(case: Case, rung_name: str, admin: str, desk: Desk, *,
                 duration: str | None = None, text: str | None = None,
                 suggestion: str | None = None, history: list[PastStep] | None = None,
                 guard: NameGuard | None = None) -> Composed:
    """The exact text a step would send, and its end time: used by the step and its preview.

    Every text is checked for the names of the reporters and the hurt (``guard``); a refusal
    names the field to change: the text, the suggestion, or the policy text."""
    rung = desk.policy.rung(rung_name)
    now = desk.clock.now()
    span: timedelta | None = None
    until: datetime | None = None
    if rung.action is Action.SUSPEND:
        assert rung.duration is not None
        b = rung.duration
        span = parse_duration(duration, "--duration", field="duration") if duration else b.default
        if not b.minimum <= span <= b.maximum:
            raise InvalidInput(
                f"a {rung.name} lasts from {format_duration(b.minimum)} to "
                f"{format_duration(b.maximum)} in this policy; {format_duration(span)} is outside that",
                field="duration")
        until = now + span
    elif duration:
        raise InvalidInput(f"--duration applies only to a suspension; {rung.name} has none",
                           problem=f"a duration applies only to a suspension; {rung.name} "
                                   "has none", field="duration")
    if rung.action is Action.REMOVE and not case.channel:
        raise InvalidInput(
            f"case {case.id} has no channel, so there is nothing to remove the person from; "
            "choose another step"
        )
    check_text(suggestion, "the suggestion", MAX_SHORT)
    guard = guard or desk.name_guard(case, admin)
    if text is not None:
        check_text(text, "the text", MAX_TEXT)
        if not text.strip():
            raise InvalidInput("the text is empty; leave --text out to use the policy's text",
                               problem="the text is empty; write what to send, or use the "
                                       "policy's text", field="text")
        check_confidential(text, case, guard, field="text")
        body = text.strip()
    else:
        if suggestion and suggestion.strip():
            check_confidential(suggestion, case, guard, field="suggestion")
        elif rung.action is Action.SUGGEST:
            check_confidential(desk.policy.texts["suggest_default"], case, guard,
                               field="texts.suggest_default")
        ctx = subject_context(case, desk.policy, desk.admin_label(admin),
                              suggestion=suggestion or "", until=until, duration=span,
                              confirm_hint=desk.confirm_hint(case) if rung.confirm else "",
                              history=history, now=now, channel=desk.channel_label(case),
                              name=desk.name_of(case.subject))
        body = render_for_subject(rung.text, ctx)
        check_confidential(body, case, guard, field=f"ladder.{rung.name}")
    quoted = case.quoted_report
    quote_from = quoted.said_origin if quoted is not None and text is None else ""
    return Composed(rung, body, until, span, quote_from)


def take_step(cmd: commands.TakeStep, uow: UnitOfWork, desk: Desk) -> int:
    """Record a step (never lost), then let the event carry it out on the platform."""
    try:
        return _take_step(cmd, uow, desk)
    except ConfidentialityError as exc:  # nothing is recorded but the refusal itself
        record_refusal(uow, desk, cmd.case_id, cmd.admin, exc.field)
        raise


def record_refusal(uow: UnitOfWork, desk: Desk, case_id: int, admin: str, field: str) -> None:
    """A text for the subject was refused because it names someone involved. The audit log
    says who, on which case and which field — never the name or the text — so that an admin
    typing names to learn who reported anonymously is seen by the other admins."""
    with uow:
        audit(uow, desk.clock.now(), admin, "text.refused",
              f"{admin} was told {field_words(field)} names someone involved in the case; "
              "nothing was sent", case_id, field=field)
        uow.commit()


def _take_step(cmd: commands.TakeStep, uow: UnitOfWork, desk: Desk) -> int:
    check_text(cmd.reason, "the reason", MAX_SHORT)
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        known = _acting(uow, desk, case, cmd.admin)
        cmd = replace(cmd, admin=known.name)
        history, effects = uow.cases.history_and_effects(case.subject)
        composed = compose_step(case, cmd.rung, cmd.admin, desk, duration=cmd.duration,
                                text=cmd.text, suggestion=cmd.suggestion, history=history)
        if not known.role.may_take(composed.rung.action):
            raise InvalidInput(f"{known.name} has the {known.role} role; a {composed.rung.name} "
                               "needs an admin with the admin role")
        banned = standing(own_effects(effects, case.subject), now).banned
        if banned is not None and not (cmd.reason and cmd.reason.strip()):
            where = "in this case" if banned.case_id == case.id else f"in case {banned.case_id}"
            raise InvalidInput(
                f"{case.subject} is already banned ({where}); to take {composed.rung.name} "
                "all the same, add --reason saying why",
                problem=f"{case.subject} is already banned ({where}); to take "
                        f"{composed.rung.name} all the same, say why", field="reason")
        rec = recommend(case, history, desk.policy, now)
        if rec.rung.name != composed.rung.name and not (cmd.reason and cmd.reason.strip()):
            raise InvalidInput(
                f"the desk recommends {rec.rung.name} ({rec.reason}); to take "
                f"{composed.rung.name} instead, add --reason saying why",
                problem=f"the desk recommends {rec.rung.name} ({rec.reason}); to take "
                        f"{composed.rung.name} instead, say why", field="reason",
            )
        was_taken = case.taken_by is not None
        step = Step(rung=composed.rung.name, action=composed.rung.action, actor=cmd.admin,
                    recorded_at=now, text=composed.text, until=composed.until,
                    recommended=rec.rung.name, reason=cmd.reason or rec.reason)
        case.record_step(step, ban_needs_consultation=desk.policy.ban_needs_consultation)
        uow.cases.save(case)
        assert step.id is not None and case.id is not None
        if not was_taken:
            audit(uow, now, cmd.admin, "case.taken", f"{cmd.admin} took the case", case.id)
        chosen = ("as recommended" if rec.rung.name == step.rung
                  else f"instead of {rec.rung.name}: {cmd.reason}")
        until = f" until {composed.until:%Y-%m-%d %H:%M} UTC" if composed.until else ""
        audit(uow, now, cmd.admin, "step.recorded", f"{step.rung}{until}, {chosen}", case.id,
              step_id=step.id, text=step.text)
        uow.timers.cancel(case.id, (TimerKind.TAKE_DEADLINE, TimerKind.ESCALATION,
                                    TimerKind.STEP_DEADLINE))
        if step.action is Action.BAN:  # and when it reaches every linked account, theirs
            reached = (uow.people.linked(case.subject) if identities.scope_of(desk.policy, step)
                       is Scope.EVERYWHERE else (case.subject,))
            for account in reached:
                for other in uow.cases.case_ids_for(account):
                    uow.timers.cancel(other, (TimerKind.SUSPENSION_ENDS,))
        # a safety net: if this process stops before the platform answers, a worker does it
        uow.timers.schedule(Timer(TimerKind.RUN_STEP, now + RUN_STEP_GRACE, case.id, step.id))
        case.events.append(events.StepRecorded(case.id, step.id))
        uow.commit()
        return step.id


def carry_out_step(event: events.StepRecorded, uow: UnitOfWork, desk: Desk) -> None:
    run_step(commands.RetryStep(event.case_id, event.step_id), uow, desk)


def run_step(cmd: commands.RetryStep, uow: UnitOfWork, desk: Desk) -> StepStatus:
    """Ask the platform to do a recorded step; record done, failed (to retry) or manual."""
    with uow:
        case = uow.cases.get(cmd.case_id)
    step = case.step(cmd.step_id)
    if step.status not in (StepStatus.PENDING, StepStatus.FAILED) or step.overturned_at:
        return step.status  # done already, or set aside on appeal before it was carried out
    effect, notified = _perform(case, step, desk, uow)
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        step = case.step(cmd.step_id)
        if step.status not in (StepStatus.PENDING, StepStatus.FAILED) or step.overturned_at:
            return step.status  # another worker finished it meanwhile
        step.attempts += 1
        step.notified = step.notified or notified
        step.detail = effect.detail or None
        uow.timers.cancel(cmd.case_id, (TimerKind.RUN_STEP,), step_id=cmd.step_id)
        if effect.status is EffectStatus.DONE:
            step.status, step.completed_at = StepStatus.DONE, now
        elif effect.status is EffectStatus.MANUAL:
            step.status = StepStatus.MANUAL
        else:
            step.status = StepStatus.FAILED
        if step.action is Action.SUSPEND and step.until and step.status is not StepStatus.FAILED:
            uow.timers.schedule(Timer(TimerKind.SUSPENSION_ENDS, step.until, cmd.case_id, step.id))
        retry_at = None
        if step.status is StepStatus.FAILED and effect.retryable \
                and desk.policy.retry.again(step.attempts, effect.retry_after):
            # the platform's wait when it names one (a rate limit), else the backoff
            wait = desk.policy.retry.wait(step.attempts, effect.retry_after)
            retry_at = now + wait
            uow.timers.schedule(Timer(TimerKind.RUN_STEP, retry_at, cmd.case_id, step.id,
                                      attempts=step.attempts))
        if step.status is StepStatus.MANUAL:
            _schedule_manual_reminder(uow, desk, now, cmd.case_id, cmd.step_id)
        case.events.append(events.StepUpdated(cmd.case_id, cmd.step_id))
        uow.cases.save(case)
        elsewhere = identities.plan_elsewhere(uow, desk, cmd.case_id, case.subject, step, now)
        summary = f"{step.rung} {step.status}"
        if step.status is StepStatus.FAILED:
            summary += (f"; trying again at {retry_at:%H:%M:%S} UTC" if retry_at
                        else "; no more automatic tries, an admin must act")
        audit(uow, now, DESK, f"step.{step.status}", summary, cmd.case_id, step_id=step.id,
              detail=effect.detail, attempt=step.attempts)
        uow.commit()
    if step.status is StepStatus.FAILED and retry_at is None or step.status is StepStatus.MANUAL:
        _tell_admins(uow, desk, case, f"Case {case.id}: step {step.rung} needs you — {effect.detail}")
    if elsewhere:
        _elsewhere(uow, desk, case, cmd.step_id, EffectTarget.APPLY)
    return step.status


def _elsewhere(uow: UnitOfWork, desk: Desk, case: Case, step_id: int,
               target: EffectTarget) -> None:
    """Carry out a step (or its giving back) on the subject's linked accounts; the admins
    hear of each one the desk could not do."""
    assert case.id is not None
    for e in identities.carry_out_elsewhere(uow, desk, case.id, step_id, target):
        _tell_admins(uow, desk, case, f"Case {case.id}: on the linked account {e.line}")


STEP_MESSAGE = "step"  # a notice's purpose: the message that goes before a removal


def _perform(case: Case, step: Step, desk: Desk, uow: UnitOfWork) -> tuple[Effect, bool]:
    """The platform calls for one step. The DM goes before a removal (afterwards it can fail);
    one the platform holds back is kept in the outbox and sent after its wait, and a removal
    goes on: the safety of the people who were hurt does not wait on a rate limit. A suspension
    or a ban waits for it (a closed account may get no message, and the person would never
    learn why or until when), unless the case is flagrant."""
    platform = desk.platform_for(case.subject)
    person = case.subject
    if platform is None:
        return Effect.manual(
            f"The desk is not connected to {person.platform}. {_generic(step, person, case)}"
        ), False
    caps = platform.capabilities
    message_id = next((r.message_id for r in case.reports if r.message_id), None)

    def manual(action: Action) -> Effect:
        return Effect.manual(platform.manual_instructions(action, person, case.channel, step.until))

    if step.action in (Action.REMIND, Action.SUGGEST):
        if case.channel and Capability.REPLY in caps:
            return platform.post_reply(case.channel, message_id, step.text), False
        if Capability.DM in caps:
            return platform.send_dm(person, step.text), False
        return manual(step.action), False
    if step.action is Action.WARN:
        if Capability.DM in caps:
            return platform.send_dm(person, step.text), False
        return manual(step.action), False
    notified, dm_note = step.notified, ""
    waiting: timedelta | None = None  # the message is held back: due in this long
    if not notified and Capability.DM in caps:
        with uow:  # kept from an earlier try of this step: it goes once, from the outbox
            earlier = [k for k in uow.notices.for_case(case.id or 0, STEP_MESSAGE)
                       if k.status is not NoticeStatus.FAILED and k.text == step.text]
        if any(k.is_sent for k in earlier):
            notified, dm_note = True, "message sent first"
        elif earlier:
            dm_note = (f"the message will be sent when {outbox.platform_label(platform.name)} "
                       "lets us")
            due = min((k.due_at for k in earlier if k.due_at is not None), default=None)
            waiting = max(due - desk.clock.now(), timedelta(seconds=1)) if due else None
        else:
            dm = platform.send_dm(person, step.text)
            notified = dm.status is EffectStatus.DONE
            dm_note = ("message sent first" if notified
                       else f"the message could not be sent ({dm.detail})")
            if not notified and dm.status is EffectStatus.FAILED and dm.retryable:
                kept = outbox.keep(uow, desk, Notice(platform.name, NoticeKind.DM, step.text,
                                                     to=person, case_id=case.id,
                                                     purpose=STEP_MESSAGE), dm)
                if outbox.is_pending(kept):  # not sent yet: the step says so, and goes on
                    dm_note = (f"the message will be sent when "
                               f"{outbox.platform_label(platform.name)} lets us")
                    waiting = kept.retry_after
    calls: dict[Action, tuple[Capability, Callable[[], Effect]]] = {
        Action.REMOVE: (Capability.REMOVE,
                        lambda: platform.remove_from_channel(person, case.channel or "")),
        Action.SUSPEND: (Capability.SUSPEND,
                         lambda: platform.suspend(person, step.until or desk.clock.now())),
        Action.BAN: (Capability.BAN, lambda: platform.ban(person)),
    }
    capability, call = calls[step.action]
    if waiting is not None and step.action in (Action.SUSPEND, Action.BAN) \
            and capability in caps and not case.flagrant:
        # a closed account may get no message (Slack's cannot): the message goes first, and
        # the account waits the platform's few seconds; a flagrant case does not wait
        return Effect.failed(f"the message to the person goes first: {dm_note}",
                             retry_after=waiting), notified
    effect = call() if capability in caps else manual(step.action)
    if dm_note:
        effect = replace(effect, detail="; ".join(x for x in (effect.detail, dm_note) if x))
    return effect, notified


def _generic(step: Step, person: PersonRef, case: Case) -> str:
    what = {
        Action.REMIND: "post the text below as a reply to the message",
        Action.SUGGEST: "post the text below as a reply to the message",
        Action.WARN: f"send the text below to {person.user_id} privately",
        Action.REMOVE: f"send {person.user_id} the text below, then remove them from {case.channel}",
        Action.SUSPEND: f"send {person.user_id} the text below, then disable their account"
                        f" until {step.until:%Y-%m-%d %H:%M} UTC" if step.until else "",
        Action.BAN: f"send {person.user_id} the text below, then disable their account for good",
        Action.RESTORE: f"re-enable {person.user_id}'s account",
    }[step.action]
    return f"Please {what}, then mark step {step.id} of case {case.id} done."


def mark_manual_done(cmd: commands.MarkManualDone, uow: UnitOfWork, desk: Desk) -> None:
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        cmd = replace(cmd, admin=_acting(uow, desk, case, cmd.admin).name)
        step = case.step(cmd.step_id)
        if step.status not in (StepStatus.MANUAL, StepStatus.FAILED):
            raise IllegalTransition(
                f"step {step.id} is {step.status}; only a manual or failed step is marked done by hand"
            )
        step.status, step.completed_at = StepStatus.MANUAL_DONE, now
        uow.timers.cancel(cmd.case_id, (TimerKind.RUN_STEP, TimerKind.MANUAL_REMINDER),
                          step_id=step.id)
        case.events.append(events.StepUpdated(cmd.case_id, cmd.step_id))
        uow.cases.save(case)
        audit(uow, now, cmd.admin, "step.manual-done", f"{step.rung} done by hand", cmd.case_id,
              step_id=step.id)
        uow.commit()


def consult(cmd: commands.Consult, uow: UnitOfWork, desk: Desk) -> None:
    if not cmd.summary.strip():
        raise InvalidInput("--summary is empty; say briefly what the people hurt said, or why "
                           "no consultation was possible",
                           problem="the summary is empty; say briefly what the people hurt "
                                   "said, or why no consultation was possible", field="summary")
    check_text(cmd.summary, "the summary")
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        cmd = replace(cmd, admin=_acting(uow, desk, case, cmd.admin).name)
        case.consult(Consultation(cmd.admin, now, cmd.summary.strip(), cmd.person))
        uow.cases.save(case)
        what = (f"consulted {cmd.person}" if cmd.person
                else "recorded that no consultation was possible")
        audit(uow, now, cmd.admin, "case.consulted", what, cmd.case_id)
        uow.commit()


def resolve_case(cmd: commands.ResolveCase, uow: UnitOfWork, desk: Desk) -> None:
    """Resolve a case: its holder, or an admin with the admin role (an untaken case becomes
    the resolving admin's). The reporters are then told the outcome."""
    try:
        outcome = Outcome(cmd.outcome)
    except ValueError:
        allowed = ", ".join(o.value for o in Outcome)
        raise InvalidInput(f"unknown outcome {cmd.outcome!r}: use one of {allowed}",
                           field="outcome") from None
    check_text(cmd.reason, "the reason", MAX_SHORT)
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        admin = _acting(uow, desk, case, cmd.admin)
        cmd = replace(cmd, admin=admin.name)
        case.resolve(cmd.admin, outcome, now, cmd.reason,
                     may_reassign=cmd.may_reassign and admin.role.may_reassign)
        uow.cases.save(case)
        uow.timers.cancel(cmd.case_id, (TimerKind.TAKE_DEADLINE, TimerKind.ESCALATION,
                                        TimerKind.STEP_DEADLINE, TimerKind.PEER_WAIT))
        reason = f": {cmd.reason}" if cmd.reason else ""
        audit(uow, now, cmd.admin, "case.resolved", f"resolved — {outcome}{reason}", cmd.case_id)
        uow.commit()


def tell_reporters_outcome(event: events.CaseResolved, uow: UnitOfWork, desk: Desk) -> None:
    """Support, not safety: the reporter learns how it ended (through the outbox: a message
    the platform holds back is delivered later; see :func:`notices.outcome_line`)."""
    with uow:
        case = uow.cases.get(event.case_id)
    labels = list(dict.fromkeys(desk.policy.ladder[i].label for s in case.steps if s.counts
                                and (i := desk.policy.index_of(s.rung, s.action)) is not None))
    text = render(desk.policy.texts["outcome"], {
        "case_id": case.id, "outcome": str(case.outcome), "steps": labels,
        "reason": case.outcome_reason or "",
    }, "texts.outcome")
    results: list[tuple[str, Effect]] = []
    messaged: dict[PersonRef, bool] = {}
    for r in case.reports:
        if r.told_privately and r.reporter is not None:
            messaged[r.reporter] = messaged.get(r.reporter, False) or r.anonymous
    for reporter, anonymous in messaged.items():
        effect = outbox.send_dm(uow, desk, reporter, text, purpose=Purpose.OUTCOME,
                                case_id=case.id, anonymous=anonymous)
        if effect is not None:
            results.append((reporter.platform, effect))
    if results:
        with uow:
            audit(uow, desk.clock.now(), DESK, "reporter.told",
                  f"the outcome for the reporters: {_told_summary(results)}", case.id)
            uow.commit()


def _told_summary(results: list[tuple[str, Effect]]) -> str:
    """'1 told; 1 will be told when Matrix lets us (in 3 seconds); 1 could not be told' —
    counts only: the audit log never names an anonymous reporter."""
    told = sum(1 for _, e in results if e.status is EffectStatus.DONE)
    failed = sum(1 for _, e in results
                 if e.status is not EffectStatus.DONE and not outbox.is_pending(e))
    parts = [f"{told} told"] if told else []
    later: dict[str, list[Effect]] = {}
    for platform, effect in results:
        if outbox.is_pending(effect):
            later.setdefault(platform, []).append(effect)
    for platform, effects in later.items():
        wait = min(e.retry_after or timedelta() for e in effects)
        parts.append(f"{len(effects)} will be told when {outbox.platform_label(platform)} "
                     f"lets us (in {humanize_span(wait)})")
    if failed:
        parts.append(f"{failed} could not be told")
    return "; ".join(parts)


def reopen_case(cmd: commands.ReopenCase, uow: UnitOfWork, desk: Desk) -> None:
    """Reopen a case: its former holder, or an admin with the admin role."""
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        admin = _acting(uow, desk, case, cmd.admin)
        cmd = replace(cmd, admin=admin.name)
        if case.subject.user_id.startswith(ERASED_PREFIX):
            raise IllegalTransition(
                f"the person case {case.id} is about was erased; if they are back, open a new "
                "case (the ladder still counts this one)")
        if case.channel and case.message_id and not case.is_open:
            newer = uow.cases.open_case_for_message(case.subject, case.channel, case.message_id)
            if newer is not None:
                raise IllegalTransition(
                    f"case {newer.id} about the same message is open; work on it there, or "
                    f"resolve it as a duplicate before reopening case {case.id}"
                )
        case.reopen(cmd.admin, now, may_reassign=cmd.may_reassign and admin.role.may_reassign)
        uow.cases.save(case)
        audit(uow, now, cmd.admin, "case.reopened", f"{cmd.admin} reopened the case", cmd.case_id)
        uow.commit()


def confirm_reread(cmd: commands.ConfirmReread, uow: UnitOfWork, desk: Desk) -> None:
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        if cmd.person != case.subject:
            raise InvalidInput("only the person the case is about can confirm re-reading")
        case.add_note(Note(NoteKind.REREAD, now, cmd.person.key,
                           "confirmed re-reading the Code of Conduct"))
        uow.cases.save(case)
        audit(uow, now, cmd.person.key, "subject.reread",
              "confirmed re-reading the Code of Conduct", cmd.case_id)
        uow.commit()


def appeal(cmd: commands.Appeal, uow: UnitOfWork, desk: Desk) -> None:
    """The subject asks the admins to look again. A new appeal brings the case back to the
    queue (its appeals), with the policy's deadline to decide it (``deadlines.appeal_within``);
    words added to an appeal already waiting join it."""
    if not cmd.text.strip():
        raise InvalidInput("the appeal is empty; say what you would like the admins to look at")
    check_text(cmd.text, "the appeal")
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        opened = case.file_appeal(cmd.person, cmd.text.strip(), now,
                                  now + desk.policy.deadlines.appeal_within)
        uow.cases.save(case)
        if opened:
            assert case.appeal_due_at is not None
            uow.timers.schedule(Timer(TimerKind.APPEAL_DEADLINE, case.appeal_due_at,
                                      cmd.case_id))
        audit(uow, now, cmd.person.key, "subject.appealed",
              "the subject appealed" if opened else "the subject added to their appeal",
              cmd.case_id)
        uow.commit()
    if not opened:
        _tell_admins(uow, desk, case, f"Case {case.id}: the person it is about added to their "
                                      "appeal; please read it.")


def tell_admins_of_appeal(event: events.AppealFiled, uow: UnitOfWork, desk: Desk) -> None:
    """The admins hear of a new appeal, and by when the policy wants it decided."""
    step = f" against the {event.rung}" if event.rung else ""
    _tell_admins_of(uow, desk, event.subject, event.case_id,
                    f"Case {event.case_id}: the person it is about has appealed{step}. An admin "
                    f"who did not take that step, please decide it by "
                    f"{event.due_at:%Y-%m-%d %H:%M} UTC.")
    emails.email_admins(uow, desk, event.case_id, EmailKind.APPEAL)


@dataclass(frozen=True)
class AppealDraft:
    """A decision on an appeal as it would be carried out now: the message to the subject,
    the appealed step, and (changed) the step that replaces it."""

    decision: AppealDecision
    text: str
    step: Step | None
    replacement: Composed | None
    undone: bool  # the platform is asked to undo the appealed step


def parse_decision(value: str) -> AppealDecision:
    try:
        return AppealDecision(value.strip().lower())
    except ValueError:
        allowed = ", ".join(d.value for d in AppealDecision)
        raise InvalidInput(f"unknown decision {value!r}: use one of {allowed}",
                           problem=f"choose a decision: {allowed}", field="decision") from None


def _undoable(step: Step) -> bool:
    """A step the platform can be asked to undo: a removal, suspension or ban carried out
    (or handed to an admin) and not given back yet."""
    return (step.action in (Action.REMOVE, Action.SUSPEND, Action.BAN)
            and step.restored_at is None
            and step.status in (StepStatus.DONE, StepStatus.MANUAL, StepStatus.MANUAL_DONE))


def compose_appeal_decision(case: Case, decision: AppealDecision, admin: str, desk: Desk, *,
                            to: str | None = None, duration: str | None = None,
                            text: str | None = None) -> AppealDraft:
    """The exact message a decision sends and what it does; used by the decision and its
    preview. Every text is checked for the names of the reporters and the hurt."""
    policy = desk.policy
    step = case.appealed_step
    if decision is not AppealDecision.UPHELD and step is None:
        raise InvalidInput(f"case {case.id} has no step to set aside or change; the appeal can "
                           "only be upheld (answered)", field="decision")
    replacement = None
    if decision is AppealDecision.CHANGED:
        assert step is not None
        below = [r.name for r in policy.ladder[:policy.index_of(step.rung, step.action) or 0]]
        if not (to and to.strip()):
            raise InvalidInput(f"a changed decision needs --to, the step that replaces the "
                               f"{step.rung}: one of {', '.join(below) or 'none'}",
                               problem="choose the step that replaces it", field="to")
        if to.strip() not in below:
            raise InvalidInput(f"{to.strip()!r} is not a step below the {step.rung}; choose one "
                               f"of {', '.join(below) or 'none (overturn it instead)'}",
                               field="to")
        replacement = compose_step(case, to.strip(), admin, desk, duration=duration)
    elif duration or (to and to.strip()):
        raise InvalidInput("a step and a duration apply only when the decision is changed",
                           field="to")
    undone = step is not None and decision is not AppealDecision.UPHELD and _undoable(step)
    guard = desk.name_guard(case, admin)
    if text is not None and text.strip():
        check_text(text, "the text", MAX_TEXT)
        check_confidential(text, case, guard, field="text")
        body = text.strip()
    else:
        key = APPEAL_TEXTS[decision.value]
        ctx = subject_context(case, policy, desk.admin_label(admin),
                              until=replacement.until if replacement else None,
                              duration=replacement.duration if replacement else None,
                              channel=desk.channel_label(case), name=desk.name_of(case.subject))
        body = render(policy.texts[key], {
            **{f: getattr(ctx, f) for f in ctx.__dataclass_fields__},
            "step": _noun(policy, step), "undone": undone,
            "new_step": _noun(policy, replacement.rung) if replacement else "",
        }, f"texts.{key}")
        check_confidential(body, case, guard, field=f"texts.{key}")
    return AppealDraft(decision, body, step, replacement, undone)


def _noun(policy: Policy, step: Step | Rung | None) -> str:
    """How a text names a step: "a suspension"; "your case" when there was none."""
    if step is None:
        return "your case"
    index = policy.index_of(step.name if isinstance(step, Rung) else step.rung, step.action)
    rung = policy.ladder[index] if index is not None else None
    return (rung.noun if rung is not None and rung.noun else DEFAULT_NOUNS[step.action])


def decide_appeal(cmd: commands.DecideAppeal, uow: UnitOfWork, desk: Desk) -> AppealDecision:
    """Decide an appeal. Overturned: undo the step on the platform (the lift/restore path)
    and stop counting it; changed: undo it, then carry out the lower rung that replaces it
    (its message is the decision, so only the platform part runs); upheld: it stands. The
    subject is told in the policy's words."""
    try:
        return _decide_appeal(cmd, uow, desk)
    except ConfidentialityError as exc:  # nothing is recorded but the refusal itself
        record_refusal(uow, desk, cmd.case_id, cmd.admin, exc.field)
        raise


MESSAGE_ONLY = frozenset({Action.REMIND, Action.SUGGEST, Action.WARN})


def check_may_decide(admin: KnownAdmin, step: Step | None) -> None:
    """An appeal against a step is decided by an admin whose role may take that step."""
    if step is not None and not admin.role.may_take(step.action):
        raise Forbidden(f"{admin.name} has the {admin.role} role; an appeal against a "
                        f"{step.rung} is decided by an admin with the admin role")


def _decide_appeal(cmd: commands.DecideAppeal, uow: UnitOfWork, desk: Desk) -> AppealDecision:
    decision = parse_decision(cmd.decision)
    check_text(cmd.text, "the text")
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        known = _acting(uow, desk, case, cmd.admin)
        step = case.check_may_decide_appeal(known.names)
        check_may_decide(known, step)
        draft = compose_appeal_decision(case, decision, known.name, desk, to=cmd.to,
                                        duration=cmd.duration, text=cmd.text)
        replacement = None
        if draft.replacement is not None:
            r = draft.replacement
            done = r.rung.action in MESSAGE_ONLY  # the decision's message is the step
            replacement = Step(
                rung=r.rung.name, action=r.rung.action, actor=known.name, recorded_at=now,
                text=draft.text, until=r.until,
                reason=f"the appeal changed the {step.rung if step else 'step'} into this",
                notified=True, status=StepStatus.DONE if done else StepStatus.PENDING,
                completed_at=now if done else None,
                detail="the decision on the appeal was the message" if done else None)
        case.decide_appeal(known.names, decision, draft.text, now, replacement)
        uow.cases.save(case)
        assert case.id is not None
        uow.timers.cancel(case.id, (TimerKind.APPEAL_DEADLINE,))
        if step is not None and decision is not AppealDecision.UPHELD:
            uow.timers.cancel(case.id, (TimerKind.RUN_STEP, TimerKind.SUSPENSION_ENDS,
                                        TimerKind.MANUAL_REMINDER), step_id=step.id)
        what = f"appeal {DECISION_WORDS[decision]}"
        if step is not None:
            what += f" ({step.rung}"
            what += f" → {replacement.rung})" if replacement is not None else ")"
        audit(uow, now, known.name, "appeal.decided", what, case.id,
              step_id=step.id if step else None, decision=decision.value,
              replacement_id=replacement.id if replacement else None, text=draft.text)
        if replacement is not None:
            until = f" until {replacement.until:%Y-%m-%d %H:%M} UTC" if replacement.until else ""
            audit(uow, now, known.name, "step.recorded",
                  f"{replacement.rung}{until}, replacing the {step.rung if step else 'step'} "
                  "on appeal", case.id, step_id=replacement.id, text=replacement.text)
        if replacement is not None and replacement.status is StepStatus.PENDING:
            assert replacement.id is not None
            uow.timers.schedule(Timer(TimerKind.RUN_STEP, now + RUN_STEP_GRACE, case.id,
                                      replacement.id))
            case.events.append(events.StepRecorded(case.id, replacement.id))
        uow.commit()
    if step is not None and draft.undone:
        assert step.id is not None
        give_back(case.id, step, known.name, uow, desk, greet=False)
    outbox.send_dm(uow, desk, case.subject, draft.text, purpose=Purpose.APPEAL, case_id=case.id)
    return decision


def subject_replied(cmd: commands.SubjectReplied, uow: UnitOfWork, desk: Desk) -> int | None:
    """Record the subject's answer on their open case that has a step taken (the newest), and
    show it to the admins; None when no open case of theirs had a step yet."""
    text = cmd.text.strip()
    if not text:
        return None
    check_text(text, "the reply")
    now = desk.clock.now()
    with uow:
        found = uow.cases.summaries(CaseFilter(
            states=(CaseState.NEW, CaseState.TAKEN, CaseState.ACTING), subject=cmd.person))
        stepped = sorted((s.id for s in found if s.last_step), reverse=True)
        if not stepped:
            return None
        case = uow.cases.get(stepped[0], lock=True)
        case.add_note(Note(NoteKind.REPLY, now, cmd.person.key, text))
        uow.cases.save(case)
        audit(uow, now, cmd.person.key, "subject.replied", "the person it is about replied",
              case.id)
        uow.commit()
    shown = text if len(text) <= 500 else text[:499] + "…"
    _tell_admins(uow, desk, case, f"Case {case.id}: the person it is about wrote back:\n> {shown}")
    return case.id


# -- timers --------------------------------------------------------------------------------


def run_due_timers(cmd: commands.RunDueTimers, uow: UnitOfWork, desk: Desk) -> int:
    """Claim due timers (each by one worker only) and run them; returns how many ran."""
    from conduct_desk.domain.timers import TimerStatus

    now = desk.clock.now()
    with uow:
        timers = uow.timers.claim_due(now, cmd.limit, cmd.worker, lease=cmd.lease)
        uow.commit()
    if not timers:
        return 0
    done: list[int] = []
    failed: list[tuple[int, str]] = []
    for timer in timers:
        assert timer.id is not None
        try:
            TIMER_HANDLERS[timer.kind](timer, uow, desk)
            done.append(timer.id)
        except StorageUnavailable:  # not the timer's fault: claimed again once its lease ends
            logger.warning("timer %s (%s) waits for the database", timer.id, timer.kind)
        except Exception as exc:  # a timer must never stop the worker
            logger.exception("timer %s (%s) failed", timer.id, timer.kind)
            failed.append((timer.id, f"{type(exc).__name__}: {exc}"))
    with uow:
        uow.timers.finish(done, TimerStatus.DONE)
        for timer_id, error in failed:
            uow.timers.finish([timer_id], TimerStatus.FAILED, error)
        uow.commit()
    return len(timers)


def _on_take_deadline(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    case = _open_case(timer, uow)
    if case is None or case.taken_by is not None:
        return
    now = desk.clock.now()
    waited = humanize_span(_round(now - case.opened_at))
    text = render(desk.policy.texts["take_reminder"], _admin_ctx(case, desk, waited),
                  "texts.take_reminder")
    on_duty = ", ".join(desk.policy.on_duty)
    _tell_admins(uow, desk, case, f"{on_duty}: {text}" if on_duty else text)
    emails.email_admins(uow, desk, timer.case_id, EmailKind.REMINDER,
                        detail="nobody has taken it yet")
    with uow:
        assert case.id is not None
        uow.timers.schedule(Timer(TimerKind.ESCALATION, now + desk.policy.deadlines.escalate_after,
                                  case.id))
        audit(uow, now, DESK, "deadline.take", f"nobody took the case within {waited}; admins "
              "reminded", case.id)
        uow.commit()


def _on_escalation(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    case = _open_case(timer, uow)
    if case is None or case.taken_by is not None:
        return
    now = desk.clock.now()
    waited = humanize_span(_round(now - case.opened_at))
    text = render(desk.policy.texts["escalation"], _admin_ctx(case, desk, waited),
                  "texts.escalation")
    _tell_admins(uow, desk, case, text)
    emails.email_admins(uow, desk, timer.case_id, EmailKind.BACKUP,
                        detail="nobody took it after the admins were reminded")
    with uow:
        audit(uow, now, DESK, "deadline.escalated", "backup admins paged", case.id)
        uow.commit()


def _on_step_deadline(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    case = _open_case(timer, uow)
    if case is None or case.first_step_at is not None:
        return
    now = desk.clock.now()
    waited = humanize_span(_round(now - case.opened_at))
    text = render(desk.policy.texts["step_reminder"], _admin_ctx(case, desk, waited),
                  "texts.step_reminder")
    who = case.taken_by or ", ".join(desk.policy.on_duty)
    _tell_admins(uow, desk, case, f"{who}: {text}" if who else text)
    emails.email_admins(uow, desk, timer.case_id, EmailKind.REMINDER,
                        detail="no first step has been taken yet", holder=case.taken_by)
    with uow:
        audit(uow, now, DESK, "deadline.first-step", f"no first step within {waited}; admins "
              "reminded", case.id)
        uow.commit()


def _on_appeal_deadline(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    """An appeal still undecided at its deadline: the admins on duty are reminded."""
    assert timer.case_id is not None
    with uow:
        try:
            case = uow.cases.get(timer.case_id)
        except NotFound:
            return
    filed = case.appeal_filed_at
    if not case.appeal_pending or filed is None:
        return  # decided meanwhile
    now = desk.clock.now()
    waited = humanize_span(_round(now - filed))
    text = render(desk.policy.texts["appeal_reminder"], _admin_ctx(case, desk, waited),
                  "texts.appeal_reminder")
    on_duty = ", ".join(desk.policy.on_duty)
    _tell_admins(uow, desk, case, f"{on_duty}: {text}" if on_duty else text)
    emails.email_admins(uow, desk, timer.case_id, EmailKind.REMINDER,
                        detail="an appeal waits for a decision")
    with uow:
        audit(uow, now, DESK, "deadline.appeal", f"the appeal waited {waited} for a decision; "
              "admins reminded", timer.case_id)
        uow.commit()


def _on_suspension_ends(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    assert timer.case_id is not None and timer.step_id is not None
    restore_subject(timer.case_id, timer.step_id, DESK, uow, desk, attempts=timer.attempts)


def lift_suspension(cmd: commands.LiftSuspension, uow: UnitOfWork, desk: Desk) -> None:
    """An admin ends a suspension early: the same path as the timer, so it happens once."""
    with uow:
        case = uow.cases.get(cmd.case_id)
        cmd = replace(cmd, admin=_acting(uow, desk, case, cmd.admin).name)
        step = case.step(cmd.step_id)
        running = (step.restored_at is None if step.action is Action.SUSPEND
                   else step.action is Action.REMOVE and _undoable(step))
        if not running:
            raise IllegalTransition(f"step {step.id} is not a running suspension or removal; "
                                    "nothing to lift")
    give_back(cmd.case_id, step, cmd.admin, uow, desk)


def give_back(case_id: int, step: Step, actor: str, uow: UnitOfWork, desk: Desk, *,
              greet: bool = True) -> None:
    """Undo a removal, suspension or ban on the platform, once, recorded as a restore step:
    lifting early, and an appeal that overturns or changes the step, share this path.
    ``greet``: the subject gets the policy's welcome-back text (an appeal's decision says
    it instead)."""
    assert step.id is not None
    with uow:
        uow.timers.cancel(case_id, (TimerKind.SUSPENSION_ENDS,), step_id=step.id)
        uow.commit()
    if step.action is Action.REMOVE:
        readmit_subject(case_id, step.id, actor, uow, desk)
    elif step.action is Action.BAN:
        unban_subject(case_id, step.id, actor, uow, desk)
    else:
        restore_subject(case_id, step.id, actor, uow, desk, greet=greet)


_STEP_STATUS = {EffectStatus.DONE: StepStatus.DONE, EffectStatus.MANUAL: StepStatus.MANUAL,
                EffectStatus.FAILED: StepStatus.FAILED}


def _record_given_back(uow: UnitOfWork, desk: Desk, case_id: int, step_id: int, actor: str,
                       status: StepStatus, *, text: str, detail: str, attempts: int,
                       summary: str) -> bool:
    """Mark a suspension or removal as given back and record the restore step that did it,
    once: False when another worker (or the timer) got there first."""
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(case_id, lock=True)
        given = case.step(step_id)
        if given.restored_at is not None:
            return False
        given.restored_at = now
        case.steps.append(Step(rung="restore", action=Action.RESTORE, actor=actor,
                               recorded_at=now, text=text, status=status,
                               detail=detail or None, attempts=attempts,
                               completed_at=now if status is StepStatus.DONE else None))
        uow.cases.save(case)
        restored = case.steps[-1].id
        assert restored is not None
        if status is StepStatus.MANUAL:
            _schedule_manual_reminder(uow, desk, now, case_id, restored)
        case.events.append(events.StepUpdated(case_id, restored))
        audit(uow, now, actor, f"step.{status}", summary, case_id, step_id=restored)
        uow.commit()
    return True


def readmit_subject(case_id: int, step_id: int, actor: str, uow: UnitOfWork, desk: Desk) -> None:
    """Lift a removal: let the person back into the channel, where the platform can (else
    a manual task that says what to do), recorded as a restore step."""
    with uow:
        case = uow.cases.get(case_id)
    platform = desk.platform_for(case.subject)
    channel = case.channel or ""
    readmit = getattr(platform, "readmit", None)
    if platform is not None and Capability.READMIT in platform.capabilities and readmit:
        effect: Effect = readmit(case.subject, channel)
    else:
        where = desk.channel_label(case) or channel or "the channel"
        who = desk.name_of(case.subject) or case.subject.user_id
        effect = Effect.manual(f"Let {who} back into {where}: invite them again, or take away "
                               "what keeps them out; then mark this step done.")
    status = _STEP_STATUS[effect.status]
    _record_given_back(uow, desk, case_id, step_id, actor, status, text="",
                       detail=effect.detail, attempts=1, summary=f"removal lifted: {status}")


def unban_subject(case_id: int, step_id: int, actor: str, uow: UnitOfWork, desk: Desk) -> None:
    """Lift a ban (an appeal overturned or changed it): where the platform can (``unban``),
    else a manual task that says what to do, recorded as a restore step."""
    with uow:
        case = uow.cases.get(case_id)
    platform = desk.platform_for(case.subject)
    unban = getattr(platform, "unban", None)
    if platform is not None and callable(unban):
        effect: Effect = unban(case.subject)
    else:
        who = desk.name_of(case.subject) or case.subject.user_id
        effect = Effect.manual(f"Lift the ban on {who}: unban them where they were banned and "
                               "give their account back if it was closed; then mark this step "
                               "done.")
    status = _STEP_STATUS[effect.status]
    if _record_given_back(uow, desk, case_id, step_id, actor, status, text="",
                          detail=effect.detail, attempts=1, summary=f"ban lifted: {status}"):
        _give_back_elsewhere(uow, desk, case, step_id)


def _give_back_elsewhere(uow: UnitOfWork, desk: Desk, case: Case, step_id: int) -> None:
    """A suspension or ban that reached the linked accounts is given back on them too."""
    assert case.id is not None
    if identities.plan_give_back(uow, case.id, step_id, desk.clock.now()):
        _elsewhere(uow, desk, case, step_id, EffectTarget.RESTORE)


def restore_subject(case_id: int, step_id: int, actor: str, uow: UnitOfWork, desk: Desk,
                    attempts: int = 0, *, greet: bool = True) -> None:
    """Give the account back, then welcome the person back (unless ``greet`` is False).
    Runs once per suspension."""
    with uow:
        case = uow.cases.get(case_id)
    suspension = case.step(step_id)
    if suspension.restored_at is not None or any(
        s.action is Action.BAN and s.counts for s in case.steps
    ):
        return
    platform = desk.platform_for(case.subject)
    text: str | None = render_for_subject(desk.policy.texts["restore"],
                                          subject_context(case, desk.policy,
                                                          desk.admin_label(actor),
                                                          channel=desk.channel_label(case),
                                                          name=desk.name_of(case.subject))
                                          ) if greet else None
    refused = ""
    try:
        if text is not None:
            check_confidential(text, case, desk.name_guard(case, actor), field="texts.restore")
    except ConfidentialityError as exc:  # the account comes back all the same, without the text
        text, refused = None, f"the welcome-back message was not sent: {exc}"
    if platform is None or Capability.RESTORE not in platform.capabilities:
        instructions = (platform.manual_instructions(Action.RESTORE, case.subject, case.channel, None)
                        if platform else f"Re-enable {case.subject.user_id}'s account.")
        effect = Effect.manual(instructions)
        began = None
    else:
        given_back = _give_back(case_id, step_id, case.subject, platform, uow, desk)
        if given_back is None:
            return
        effect, began = given_back
    now = desk.clock.now()
    if effect.status is EffectStatus.FAILED and effect.retryable \
            and desk.policy.retry.again(attempts + 1, effect.retry_after):
        wait = desk.policy.retry.wait(attempts + 1, effect.retry_after)
        with uow:
            uow.timers.schedule(Timer(TimerKind.SUSPENSION_ENDS, now + wait, case_id, step_id,
                                      attempts=attempts + 1))
            audit(uow, now, DESK, "step.failed", f"restore failed, trying again: {effect.detail}",
                  case_id, step_id=step_id)
            uow.commit()
        return
    welcome = None
    if effect.status is EffectStatus.DONE and platform is not None and text is not None \
            and Capability.DM in platform.capabilities \
            and not (began is not None and _welcomed_since(uow, case_id, began)):
        # through the outbox: held back by the platform, it comes after its wait
        welcome = outbox.send_dm(uow, desk, case.subject, text, purpose="restore",
                                 case_id=case_id)
    status = _STEP_STATUS[effect.status]
    detail = effect.detail
    if welcome is not None and outbox.is_pending(welcome):
        detail = (f"{detail}; the welcome-back message will be sent when "
                  f"{outbox.platform_label(platform.name if platform else '')} lets us"
                  ).lstrip("; ")
    elif welcome is not None and welcome.status is not EffectStatus.DONE:
        detail = f"{detail}; the welcome-back message failed ({welcome.detail})".lstrip("; ")
    if refused:
        detail = f"{detail}; {refused}".lstrip("; ")
    summary = (f"suspension ended; account restored{' and welcomed back' if welcome else ''}"
               if status is StepStatus.DONE else f"restore {status}: {effect.detail}")
    if not _record_given_back(uow, desk, case_id, step_id, actor, status, text=text or "",
                              detail=detail, attempts=attempts + 1, summary=summary):
        return
    _give_back_elsewhere(uow, desk, case, step_id)
    if status is not StepStatus.DONE:
        who = desk.name_of(case.subject) or case.subject
        _tell_admins(uow, desk, case, f"Case {case_id}: the suspension of {who} ended; "
                                      f"please restore the account by hand — {effect.detail}")


def _give_back(case_id: int, step_id: int, person: PersonRef, platform: Platform,
               uow: UnitOfWork, desk: Desk) -> tuple[Effect, datetime | None] | None:
    """Ask the platform to give the account back, once: the suspension records that the desk
    is giving it back before asking (``giving_back_at``). A run that finds it already set
    follows one that died after asking, so it asks the platform whether the account is back
    before asking again. Returns the effect and when an earlier run began (None: this is the
    first); None when another run has finished meanwhile."""
    with uow:
        case = uow.cases.get(case_id, lock=True)
        given = case.step(step_id)
        if given.restored_at is not None:
            return None
        began = given.giving_back_at
        if began is None:
            given.giving_back_at = desk.clock.now()
            uow.cases.save(case)
            uow.commit()
    if began is not None:
        restored = getattr(platform, "account_restored", None)
        if restored is not None and restored(person) is True:
            return Effect.done("the account was already back: an earlier try, cut short, had "
                               "given it back"), began
    return platform.restore(person), began


def _welcomed_since(uow: UnitOfWork, case_id: int, since: datetime) -> bool:
    """Whether the outbox holds a welcome-back message for the case from ``since`` on: kept,
    it is the outbox's to deliver, and is not sent again."""
    with uow:
        return any(n.created_at is not None and n.created_at >= since
                   for n in uow.notices.for_case(case_id, "restore"))


def _on_run_step(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    assert timer.case_id is not None and timer.step_id is not None
    run_step(commands.RetryStep(timer.case_id, timer.step_id), uow, desk)


def _schedule_manual_reminder(uow: UnitOfWork, desk: Desk, now: datetime, case_id: int,
                              step_id: int) -> None:
    due = now + desk.policy.deadlines.escalate_after
    uow.timers.schedule(Timer(TimerKind.MANUAL_REMINDER, due, case_id, step_id))


def _on_manual_reminder(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    """A manual task is reminded until an admin marks it done (or the case is resolved)."""
    case = _open_case(timer, uow)
    assert timer.step_id is not None
    if case is None or case.step(timer.step_id).status is not StepStatus.MANUAL:
        return
    step = case.step(timer.step_id)
    now = desk.clock.now()
    _tell_admins(uow, desk, case, f"Case {case.id}: reminder — step {step.rung} is still waiting to be "
                             f"done by hand, then marked done: {step.detail}")
    emails.email_admins(uow, desk, timer.case_id, EmailKind.REMINDER,
                        detail=f"step {step.rung} waits to be done by hand, then marked done",
                        holder=case.taken_by)
    with uow:
        assert case.id is not None
        _schedule_manual_reminder(uow, desk, now, case.id, timer.step_id)
        audit(uow, now, DESK, "step.reminded", f"admins reminded of the manual {step.rung}",
              case.id, step_id=step.id)
        uow.commit()


def _noop(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    return None


TIMER_HANDLERS: dict[TimerKind, Callable[[Timer, UnitOfWork, Desk], None]] = {
    TimerKind.TAKE_DEADLINE: _on_take_deadline,
    TimerKind.ESCALATION: _on_escalation,
    TimerKind.STEP_DEADLINE: _on_step_deadline,
    TimerKind.SUSPENSION_ENDS: _on_suspension_ends,
    TimerKind.RUN_STEP: _on_run_step,
    TimerKind.PEER_WAIT: _noop,  # platform adapters register their own handler
    TimerKind.MANUAL_REMINDER: _on_manual_reminder,
    TimerKind.DELIVER_NOTICE: outbox.deliver_due,
    TimerKind.APPEAL_DEADLINE: _on_appeal_deadline,
    TimerKind.NOOP: _noop,
}


# -- helpers -------------------------------------------------------------------------------


def audit(uow: UnitOfWork, at: datetime, actor: str, kind: str, summary: str,
          case_id: int | None = None, **detail: Any) -> None:
    uow.audit.append_all([AuditEntry(
        at=at, actor=actor, kind=kind, summary=summary, case_id=case_id,
        detail={k: v for k, v in detail.items() if v not in (None, "")})])


def _admin_name(admin: str) -> None:
    if not admin or not admin.strip():
        raise InvalidInput("--admin is empty: give the name of the admin acting",
                           problem="give the name of the admin acting", field="admin")
    check_text(admin, "the admin name", 200)


def _open_case(timer: Timer, uow: UnitOfWork) -> Case | None:
    assert timer.case_id is not None
    with uow:
        try:
            case = uow.cases.get(timer.case_id)
        except NotFound:
            return None
    return case if case.is_open else None


def _admin_ctx(case: Case, desk: Desk, waited: str) -> dict[str, Any]:
    return {"case_id": case.id, "subject": str(case.subject), "waited": waited,
            "hurt": len(case.harmed), "backups": ", ".join(desk.policy.backup) or "backup admins"}


def _round(delta: timedelta) -> timedelta:
    return timedelta(minutes=max(1, round(delta.total_seconds() / 60)))


def _admin_platforms(desk: Desk, subject: PersonRef) -> list[Platform]:
    platform = desk.platform_for(subject)
    candidates = [platform] if platform is not None else list(desk.platforms.values())
    return [p for p in candidates if Capability.NOTIFY_ADMINS in p.capabilities]


def _tell_admins(uow: UnitOfWork, desk: Desk, case: Case, text: str) -> None:
    """A line for the admins about a case, through the outbox (held back, it comes later;
    undeliverable, it is audited on the case). Call it outside a transaction."""
    _tell_admins_of(uow, desk, case.subject, case.id, text)


def _tell_admins_of(uow: UnitOfWork, desk: Desk, subject: PersonRef, case_id: int | None,
                    text: str) -> None:
    for platform in _admin_platforms(desk, subject):
        outbox.send_admins(uow, desk, platform.name, text, case_id=case_id)


COMMAND_HANDLERS: dict[type[commands.Command], Callable[..., Any]] = {
    commands.FileReport: file_report,
    commands.TakeCase: take_case,
    commands.HandOver: hand_over,
    commands.TakeStep: take_step,
    commands.Consult: consult,
    commands.ResolveCase: resolve_case,
    commands.ReopenCase: reopen_case,
    commands.Recuse: recuse,
    commands.ConfirmHurt: confirm_hurt,
    commands.MarkManualDone: mark_manual_done,
    commands.RetryStep: run_step,
    commands.LiftSuspension: lift_suspension,
    commands.ConfirmReread: confirm_reread,
    commands.Appeal: appeal,
    commands.DecideAppeal: decide_appeal,
    commands.SubjectReplied: subject_replied,
    commands.RunDueTimers: run_due_timers,
    commands.LinkAccounts: identities.link_accounts,
    commands.UnlinkAccount: identities.unlink_account,
    commands.RequestLinkCode: identities.request_link_code,
    commands.LinkByCode: identities.link_by_code,
}

EVENT_HANDLERS: dict[type[events.Event], list[Callable[..., None]]] = {
    events.ReportFiled: [acknowledge_reporter],
    events.StepRecorded: [carry_out_step],
    events.CaseResolved: [tell_reporters_outcome],
    events.AppealFiled: [tell_admins_of_appeal],
}
