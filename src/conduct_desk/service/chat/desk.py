"""The chat desk: what a member, a subject or an admin does in a chat, turned into the desk's
commands, and the answers they get — once, for every platform.

A transport (:class:`~conduct_desk.service.chat.transport.ChatTransport`) hands it neutral
inputs (:mod:`~conduct_desk.service.chat.inputs`) and carries out what it says.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.durations import format_duration, humanize_span
from conduct_desk.domain.errors import (
    AlreadyFiled,
    ConfidentialityError,
    ConsultationNeeded,
    DeskError,
    Hint,
    InvalidInput,
    Recused,
)
from conduct_desk.domain.links import is_web_link
from conduct_desk.domain.model import Case, NoteKind, Source
from conduct_desk.domain.notices import Notice, NoticeKind, Purpose
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.service import commands, notices, views
from conduct_desk.service.chat import commands as table
from conduct_desk.service.chat import render
from conduct_desk.service.chat.cards import CardKeeper
from conduct_desk.service.chat.inputs import (
    CardPressed,
    ChannelMessage,
    ChatInput,
    CommandTyped,
    DirectMessage,
    MessageDeleted,
    MessageEdited,
    Reaction,
    ReactionKind,
    ReportSubmitted,
)
from conduct_desk.service.chat.roster import ChatAdmin, platform_admins
from conduct_desk.service.chat.transport import ChatTransport
from conduct_desk.service.handlers import Desk
from conduct_desk.service.messagebus import MessageBus
from conduct_desk.service.nudges import says_enough
from conduct_desk.service.ports import CaseFilter, Effect, EffectStatus, Platform, UnitOfWork

logger = logging.getLogger(__name__)

WATCH_TTL = 5.0  # seconds a worker trusts its copy of the nudge watch list
NAMES_TTL = 600.0  # seconds a display name is trusted
MAX_NAMES = 2000  # display names remembered at most (then forgotten, oldest first)
_REREAD_WORDS = ("!reread", "reread", "i have re-read it", "i have reread it", "i have re-read it.",
                 "i have reread it.")
_HELP_WORDS = ("!help", "help", "!coc", "/coc", "?")

ThankYou = "Thank you. The admins have it; there is nothing more you need to do."
NOBODY_THERE = "there is nobody there to report. Name the person, or report their own message."


class DeskApp(Protocol):
    """What the chat desk needs of the wired app (``bootstrap.App``)."""

    @property
    def desk(self) -> Desk: ...
    @property
    def bus(self) -> MessageBus: ...
    def uow(self) -> UnitOfWork: ...


class ChatDesk:
    """Intake, the peer step, admin commands and case cards for one chat platform."""

    def __init__(self, app: DeskApp, transport: ChatTransport, platform: Platform,
                 admins: dict[str, ChatAdmin], *, source: Source, admins_variable: str,
                 dm_help: str, card_prefix: str) -> None:
        self.app, self.transport, self.platform = app, transport, platform
        self.admins = admins
        self.admins_variable = admins_variable
        self.dm_help = dm_help
        self.name = transport.platform
        self.source = source
        app.desk.platform_admins.update(platform_admins(admins))
        app.desk.channel_namers[self.name] = self.channel_name
        app.desk.person_namers[self.name] = lambda user_id: self.person_name(self.person(user_id))
        self.words = render.Words(transport.prefix, self.person_name, self.channel_name)
        self.cards = CardKeeper(app, transport, self.words, card_prefix)
        app.desk.notice_senders[(self.name, NoticeKind.ANSWER)] = self._deliver_answer
        self._watch: dict[tuple[str, str], str] = {}
        self._watch_loaded = float("-inf")
        self._watch_lock = threading.Lock()
        self._names: dict[tuple[str, str], tuple[float, str]] = {}
        self._handlers: dict[type[Any], Callable[[Any], str | None]] = {
            Reaction: self.reaction, DirectMessage: self.direct, MessageEdited: self.edited,
            MessageDeleted: self.deleted, ChannelMessage: self.channel_message,
            ReportSubmitted: self.report_submitted, CommandTyped: self.command,
            CardPressed: self.card_pressed,
        }

    # -- entry -------------------------------------------------------------------------------
    def handle(self, item: ChatInput) -> str | None:
        """Act on one input. Returns an answer only for a command typed where only its author
        reads the answer (``room`` None): the transport shows it in place."""
        return self._handlers[type(item)](item)

    def start(self) -> None:
        """Nothing to start: kept answers and cards are delivered by the desk's timers."""

    def stop(self) -> None:
        """Nothing to stop: what is not delivered yet is kept in the desk's outbox."""

    def listening(self) -> None:
        """Say in the admins' room that commands are heard now (after a start or restart)."""
        effect = self.platform.notify_admins(
            f"Conduct Desk is listening here. Type `{self.transport.prefix} help` for the "
            f"commands, `{self.transport.prefix} list` for the open cases.")
        if effect.status is not EffectStatus.DONE:
            logger.warning("could not say in the admins' room that the desk listens: %s",
                           effect.detail)

    # -- names -------------------------------------------------------------------------------
    def person(self, user_id: str) -> PersonRef:
        return PersonRef(self.name, user_id)

    def person_name(self, person: PersonRef) -> str:
        """A person's display name on this platform; their id when none is known."""
        if person.platform != self.name:
            return person.user_id
        return self._name("p", person.user_id, self.transport.person_name)

    def channel_name(self, channel: str) -> str:
        return self._name("c", channel, self.transport.channel_name)

    def _name(self, kind: str, key: str, look_up: Callable[[str], str | None]) -> str:
        now = time.monotonic()
        found = self._names.get((kind, key))
        if found is not None and now - found[0] < NAMES_TTL:
            return found[1]
        try:
            name = look_up(key) or key
        except Exception:  # a name is a courtesy: the id still says who
            logger.warning("could not look up a %s name on %s", "person's" if kind == "p"
                           else "channel's", self.name)
            name = key
        if len(self._names) >= MAX_NAMES:
            for old in sorted(self._names, key=lambda k: self._names[k][0])[: MAX_NAMES // 4]:
                del self._names[old]
        self._names[(kind, key)] = (now, name)
        return name

    # -- who acts ----------------------------------------------------------------------------
    def admin(self, user_id: str) -> ChatAdmin | None:
        """The admin this chat user is: listed in the settings, or a web account that carries
        this platform identity. A web account's name is what cases record."""
        listed = self.admins.get(user_id)
        identity = f"{self.name}:{user_id}"
        with self.app.uow() as uow:
            account = next((a for a in uow.accounts.admins()
                            if not a.disabled and identity in a.identities), None)
        if account is not None:
            return ChatAdmin(account.name, user_id, listed.role if listed else account.role,
                             self.name)
        return listed

    def acting(self, user_id: str, needed: Role, action: Action | None = None) -> ChatAdmin:
        """The admin, allowed ``needed`` (and ``action``), or :class:`InvalidInput` saying why."""
        admin = self.admin(user_id)
        if admin is None:
            raise InvalidInput(f"only the desk's admins can do this; an admin can add your user "
                               f"id ({user_id}) to {self.admins_variable}")
        if not admin.may(needed):
            raise InvalidInput(f"{admin.role.value}s can read cases but not change them; ask a "
                               "moderator" if admin.role is Role.OBSERVER else
                               f"this needs the {needed.value} role ({self.admins_variable} "
                               "sets roles)")
        if action is not None and not admin.role.may_take(action):
            raise InvalidInput("a ban needs the admin role; moderators act up to a suspension")
        return admin

    def _names_of(self, admin: ChatAdmin) -> tuple[str, ...]:
        return (admin.name, *admin.aliases)

    def _case_for(self, admin: ChatAdmin, case_id: int) -> views.CaseDetail:
        """The case, for an admin not involved in it (refused privately otherwise)."""
        detail = views.case_detail(self.app.uow(), self.app.desk, case_id)
        case = detail.case
        if any(case.involves(n) for n in self._names_of(admin)):
            holds = case.taken_by in self._names_of(admin)
            raise Recused(f"you are involved in case {case_id} and must step aside",
                          case_id if holds else None,
                          problem=f"you are involved in case {case_id} and must step aside"
                          + ("" if holds else "; another admin handles it"),
                          hint=Hint("recuse", case_id) if holds else None)
        return detail

    # -- words -------------------------------------------------------------------------------
    def explain(self, exc: DeskError) -> str:
        """An error in this chat's words: the problem, then the command that fixes it."""
        if isinstance(exc, ConfidentialityError):
            where = {"text": "--text", "suggestion": "--suggestion"}.get(
                exc.field, f"{exc.field} in the policy file")
            return f"{exc.problem} (change {where})"
        if exc.hint is not None:
            fix = table.hint_text(exc.hint, self.transport.prefix, self.transport.person_example)
            if fix:
                return f"{exc.problem}: {fix}"
        return exc.problem

    def help_text(self) -> str:
        return table.help_text(self.transport.prefix, self.transport.person_example)

    # -- admin commands ----------------------------------------------------------------------
    def command(self, c: CommandTyped) -> str | None:
        """An admin command. Typed in a shared room, what depends on a case (refusals,
        stepping aside) goes to the asker privately and the room reads only that they were
        answered: a refusal can say that the asker is involved in the case."""
        public, private = self.answer(c)
        if c.room is None:  # only the asker reads the answer anyway
            return private or public
        if private is not None:
            public = self._privately(c.user, private)
        self._say(c.user, c.room, c.message_id, public)
        return None

    def _say(self, user_id: str, room: str, reply_to: str | None, text: str) -> None:
        """Answer in the room; held back by the platform, the answer is kept and comes later."""
        effect = self.transport.answer(user_id, room, reply_to, text)
        if effect.status is not EffectStatus.DONE:
            notices.keep(self.app.uow(), self.app.desk, Notice(
                self.name, NoticeKind.ANSWER, text, to=self.person(user_id),
                purpose=Purpose.ANSWER, reply_to=reply_to), effect)

    def _deliver_answer(self, notice: Notice) -> Effect:
        """The outbox's later try of an answer in the admins' room."""
        user = notice.to.user_id if notice.to is not None else ""
        return self.transport.answer(user, self.transport.admin_room, notice.reply_to,
                                     notice.text)

    def answer(self, c: CommandTyped) -> tuple[str, str | None]:
        """(what the room may read, what only the asker may read, or None)."""
        prefix, person = self.transport.prefix, self.transport.person_example
        try:
            parsed = table.parse(c.text, prefix, person)
            spec = parsed.spec
            if spec.verb == "help":
                return self.help_text(), None
            if spec.verb == "report":
                return self._report_command(c.user, parsed.rest), None
            if spec.verb == "link":
                return self._link_command(c.user, parsed.rest), None
            admin = self.acting(c.user, spec.role or Role.OBSERVER)
        except DeskError as exc:
            return f"Not done: {self.explain(exc)}", None
        try:
            answer = self._execute(admin, parsed, c.trigger)
        except DeskError as exc:
            return "", f"Not done: {self.explain(exc)}"
        if spec.verb == "recuse":
            return "", answer
        if spec.verb == "show" and c.room is not None:
            return "", answer  # a show in the room goes privately when the subject may read it
        return answer, None

    def _privately(self, user_id: str, text: str) -> str:
        """Answer one admin privately; the room reads only that they were answered."""
        effect = self.transport.dm(user_id, text)
        if effect.status is EffectStatus.DONE:
            return "I've answered you privately."
        kept = notices.keep(self.app.uow(), self.app.desk, Notice(
            self.name, NoticeKind.DM, text, to=self.person(user_id), purpose=Purpose.ANSWER),
            effect)
        if notices.is_pending(kept):
            return (f"I'll answer you privately as soon as {notices.platform_label(self.name)} "
                    "lets me.")
        return ("I could not answer you privately; please make sure I can write to you "
                "directly, then ask again.")

    def _report_command(self, user_id: str, rest: tuple[str, ...]) -> str:
        example = table.BY_VERB["report"].example(self.transport.prefix,
                                                  self.transport.person_example)
        subject = self.transport.person_word(rest[0]) if rest else None
        if subject is None:
            raise InvalidInput(f"say who it is about: `{example}`")
        if subject == user_id:
            raise InvalidInput("that is you; name the person it is about")
        if subject == self.transport.desk_account():
            raise InvalidInput(f"that is the desk itself; {NOBODY_THERE}")
        self.app.bus.handle(commands.FileReport(
            subject=self.person(subject), reporter=self.person(user_id), source=self.source,
            note=" ".join(rest[1:]) or None))
        return ThankYou

    def _link_command(self, user_id: str, rest: tuple[str, ...]) -> str:
        """``link``: the desk sends a one-time code privately; ``link CODE`` from another
        account links the two."""
        me = self.person(user_id)
        if not rest:
            self.app.bus.handle(commands.RequestLinkCode(me))
            return ("I've sent you a code privately. Give it to the desk from your other "
                    "account within 15 minutes to link the two.")
        person = self.app.bus.handle(commands.LinkByCode(me, " ".join(rest)))
        others = ", ".join(str(p) for p in person if p != me)
        return f"Linked: the admins now see this account and {others} as one person."

    def _execute(self, admin: ChatAdmin, parsed: table.Parsed, trigger: str | None) -> str:
        verb, rest = parsed.spec.verb, parsed.rest
        usage = parsed.spec.example(self.transport.prefix, self.transport.person_example,
                                    parsed.case_id or 12)
        bus, w = self.app.bus, self.words
        if verb == "list":
            return render.list_text(views.queue(self.app.uow(), self.app.desk.clock.now()), w)
        case_id = parsed.case_id
        assert case_id is not None
        if verb == "recuse":  # the one thing an involved admin may do on the case
            bus.handle(commands.Recuse(case_id, admin.name))
            return (f"You have stepped aside from case {case_id}; no reason is recorded. If it "
                    "was yours, the other admins are asked to take it.")
        detail = self._case_for(admin, case_id)
        if verb == "show":
            return render.show_text(detail, w)
        if verb == "take":
            bus.handle(commands.TakeCase(case_id, admin.name))
            return f"Case {case_id} is yours, {w.admin(admin.name)}."
        if verb == "handover":
            if not rest:
                raise InvalidInput(f"to whom? `{usage}`")
            to = self.named_admin(rest[0])
            bus.handle(commands.HandOver(case_id, admin.name, to,
                                         may_reassign=admin.role.may_reassign))
            return f"Case {case_id} is {w.admin(self._recorded(case_id))}'s now."
        if verb == "step":
            return self._step(admin, detail, rest, usage, trigger)
        if verb == "consult":
            return self._consult(admin, case_id, rest, usage)
        if verb == "resolve":
            if not rest:
                raise InvalidInput(f"which outcome? `{usage}`")
            bus.handle(commands.ResolveCase(case_id, admin.name, rest[0].lower(),
                                            " ".join(rest[1:]).strip() or None,
                                            may_reassign=admin.role.may_reassign))
            case = views.case_detail(self.app.uow(), self.app.desk, case_id).case
            return f"Case {case_id} resolved: {case.outcome}. {self.told_line(case)}"
        if verb == "reopen":
            bus.handle(commands.ReopenCase(case_id, admin.name,
                                           may_reassign=admin.role.may_reassign))
            return f"Case {case_id} reopened; it is {w.admin(self._recorded(case_id))}'s."
        if verb == "confirm-hurt":
            if len(rest) != 1:
                raise InvalidInput(f"who was hurt? `{usage}`")
            hurt = self.hurt_person(rest[0])
            if hurt in (admin.identity, admin.name):
                raise InvalidInput(f"that is you; to step aside yourself: "
                                   f"`{self.transport.prefix} recuse {case_id}`")
            bus.handle(commands.ConfirmHurt(case_id, admin.name, hurt))
            return (f"Case {case_id}: {self._hurt_name(hurt)} is confirmed as hurt; an admin so "
                    "confirmed steps aside from it.")
        # retry, done, lift: a step of the case
        if not rest:
            raise InvalidInput(f"which step? `{usage}` (the step numbers are on the card)")
        step_id = table.number(rest[0], "step", usage)
        if verb == "retry":
            detail.case.step(step_id)
            bus.handle(commands.RetryStep(case_id, step_id))
        elif verb == "done":
            bus.handle(commands.MarkManualDone(case_id, step_id, admin.name))
        else:
            lifted = detail.case.step(step_id).action
            bus.handle(commands.LiftSuspension(case_id, step_id, admin.name))
            case = views.case_detail(self.app.uow(), self.app.desk, case_id).case
            what = "suspension lifted" if lifted is Action.SUSPEND else "removal lifted"
            return f"Case {case_id}: {what} — {case.steps[-1].detail or case.steps[-1].status}"
        case = views.case_detail(self.app.uow(), self.app.desk, case_id).case
        return render.step_result_text(case, case.step(step_id), w, self._platform_title())

    def _platform_title(self) -> str:
        return self.name.capitalize()

    def _recorded(self, case_id: int) -> str:
        return views.case_detail(self.app.uow(), self.app.desk, case_id).case.taken_by or "nobody"

    def _step(self, admin: ChatAdmin, detail: views.CaseDetail, rest: tuple[str, ...],
              usage: str, trigger: str | None) -> str:
        case_id = detail.case.id
        assert case_id is not None
        if not rest:
            raise InvalidInput(f"which step? `{usage}`")
        rung = self.app.desk.policy.rung(rest[0].lower())
        opts = table.options(rest[1:], usage)
        admin = self.acting(admin.user_id, Role.MODERATOR, rung.action)
        if trigger and not opts.get("text") and self.open_step_form(
                admin, case_id, rung.name, trigger, opts.get("duration")):
            return f"Case {case_id}: check the text of the {rung.name} step in the window that opened."
        result = self.app.bus.handle(commands.TakeStep(case_id, rung.name, admin.name, **opts))
        case = views.case_detail(self.app.uow(), self.app.desk, case_id).case
        return render.step_result_text(case, case.step(int(result)), self.words,
                                       self._platform_title())

    def open_step_form(self, admin: ChatAdmin, case_id: int, rung_name: str, trigger: str,
                       duration: str | None = None) -> bool:
        """Open the platform's form to check a step's text first; False when it has none."""
        rung = self.app.desk.policy.rung(rung_name)
        self._case_for(admin, case_id)
        composed = views.preview_step(self.app.uow(), self.app.desk, case_id, rung.name,
                                      admin.name, duration=duration)
        detail = views.case_detail(self.app.uow(), self.app.desk, case_id)
        if rung.action is Action.BAN and self.app.desk.policy.ban_needs_consultation \
                and not detail.case.consultations:
            raise ConsultationNeeded(
                "the policy asks to consult the people who were hurt before a ban",
                problem=f"case {case_id}: the policy asks to consult the people who were hurt "
                        "before a ban; record it first", hint=Hint("consult", case_id))
        recommended = detail.recommendation.rung.name if detail.recommendation else None
        span = format_duration(composed.duration) if composed.duration else None
        return self.transport.open_step_form(trigger, case_id, rung.name, composed.text,
                                             recommended, span)

    def _consult(self, admin: ChatAdmin, case_id: int, rest: tuple[str, ...], usage: str) -> str:
        if len(rest) < 2:
            raise InvalidInput(f"`{usage}`, or `{self.transport.prefix} consult {case_id} none "
                               "why it was not possible`")
        if rest[0].lower() in ("none", "--not-possible", "not-possible"):
            person = None
        else:
            found = self.transport.person_word(rest[0])
            if found is None:
                raise InvalidInput(f"name the person consulted as {self.transport.person_example}, "
                                   f"or write `none`; `{usage}`")
            person = self.person(found)
        self.app.bus.handle(commands.Consult(case_id, admin.name, " ".join(rest[1:]), person))
        with_whom = self.person_name(person) if person else "nobody (not possible)"
        return f"Case {case_id}: consultation with {with_whom} recorded."

    def named_admin(self, word: str) -> str:
        """The desk name for a hand-over's target as typed: a person (then their platform
        identity, which the desk resolves to their account or listing) or a name. Whether
        they may take it is the desk's one check (``roster.acting``)."""
        user = self.transport.person_word(word)
        if user is None:
            return word
        listed = self.admin(user)
        if listed is None:  # said here in chat words (the desk's own check speaks the CLI's)
            raise InvalidInput(f"{self.person_name(self.person(user))} is not one of the desk's "
                               f"admins; an admin can add their user id ({user}) to "
                               f"{self.admins_variable}")
        return listed.name

    def hurt_person(self, word: str) -> str:
        """``confirm-hurt``'s person as cases name them (``matrix:@bo:server``, ``ana``)."""
        user = self.transport.person_word(word)
        if user is not None:
            return f"{self.name}:{user}"
        listed = next((a for a in self.admins.values() if a.name.lower() == word.lower()), None)
        return listed.identity if listed is not None else word

    def _hurt_name(self, key: str) -> str:
        platform, _, user = key.partition(":")
        return self.person_name(PersonRef(platform, user)) if platform == self.name else key

    def told_line(self, case: Case) -> str:
        """What became of the reporters' outcome notices, truthfully: told, will be told when
        the platform lets us, or could not be told (and why)."""
        assert case.id is not None
        states = views.notice_states(self.app.uow(), self.app.desk, case.id, Purpose.OUTCOME)
        if not states:
            return ("No reporter can be told here; reporters who used the web form see the "
                    "outcome behind their status link.")
        said = []
        for state in states:
            platform, sep, user = state.to.partition(":")
            named = (self.person_name(PersonRef(platform, user))
                     if sep and not state.to.startswith("the ") else state.to)
            said.append(state.sentence.replace(state.to, named, 1))
        line = "; ".join(said)
        return line[:1].upper() + line[1:] + "."

    # -- buttons -----------------------------------------------------------------------------
    def card_pressed(self, p: CardPressed) -> str | None:
        """A card's button: answered to the presser only."""
        text = {"take": f"take {p.case_id}", "done": f"done {p.case_id} {p.arg}",
                "step": f"step {p.case_id} {p.arg}"}.get(p.action)
        if text is None:
            return None
        public, private = self.answer(CommandTyped(p.user, text, trigger=p.trigger))
        return private or public

    # -- intake ------------------------------------------------------------------------------
    def _tell(self, user_id: str, text: str) -> None:
        """A private answer to a member. Held back by the platform, it is kept and comes
        later; kept as an anonymous reporter's would be (sealed, no platform error), since
        the member may be one."""
        effect = self.transport.dm(user_id, text)
        if effect.status is not EffectStatus.DONE:
            notices.keep(self.app.uow(), self.app.desk, Notice(
                self.name, NoticeKind.DM, text, to=self.person(user_id), purpose="chat",
                anonymous=True), effect)

    def _about_desk(self, reporter: str, subject: PersonRef) -> str | None:
        """What the reporter is told when the report is about the desk's own account."""
        if subject.user_id != self.transport.desk_account():
            return None
        said = f"That is the desk itself: {NOBODY_THERE}"
        self._tell(reporter, said)
        return said

    def _file(self, reporter: str, command: commands.FileReport) -> str | None:
        """File a report; None when it is filed (or was, by this same delivery before), else
        what the reporter is told privately about why not."""
        about_desk = self._about_desk(reporter, command.subject)
        if about_desk:
            return about_desk
        try:
            self.app.bus.handle(command)
        except AlreadyFiled:  # the same delivery again: the reporter was thanked the first time
            return None
        except DeskError as exc:
            said = f"Your report could not be filed: {self.explain(exc)}"
            self._tell(reporter, said)
            return said
        return None

    def reaction(self, r: Reaction) -> str | None:
        if r.kind is ReactionKind.CONFIRM:
            self.confirm_reread(r.user)
            return None
        if not self.app.desk.policy.reactions:
            return None  # a reaction shows the room who reacted: only when the policy allows
        self.report_message(r.user, r.channel, r.message_id, nudge=r.kind is ReactionKind.NUDGE,
                            author=r.author, mark=r.mark)
        return None

    def report_message(self, reporter: str, channel: str, message_id: str, *, nudge: bool,
                       note: str | None = None, author: str | None = None,
                       mark: tuple[str, str] | None = None) -> None:
        """A report (or a nudge) about one message, read from the platform first."""
        fetched = self.platform.fetch_message(channel, message_id)
        subject = fetched.author if fetched and fetched.author else (
            self.person(author) if author else None)
        if subject is None:
            self._tell(reporter, "I could not read that message, so nothing was sent. Is the "
                                 "desk in that channel? " + self.dm_help)
            return
        if subject.user_id == reporter:
            return
        text, link = (fetched.text, fetched.link) if fetched else (None, None)
        link = link if link and is_web_link(link) else None
        if nudge:
            self.ask_nudge(commands.Nudge(subject, self.person(reporter), self.source,
                                          channel, message_id, text, link, note=note))
            return
        self._file(reporter, commands.FileReport(
            subject=subject, reporter=self.person(reporter), source=self.source,
            channel=channel, message_id=message_id, message_text=text, message_link=link,
            note=note, mark=mark))

    def ask_nudge(self, command: commands.Nudge) -> str | None:
        """The peer step on the reporter's behalf: a private word to the author. None when
        it is on its way, else what the reporter is told privately about why not."""
        reporter = command.reporter.user_id
        about_desk = self._about_desk(reporter, command.subject)
        if about_desk:
            return about_desk
        try:
            self.app.bus.handle(command)
        except DeskError as exc:
            said = f"The private word could not be sent: {self.explain(exc)}"
            self._tell(reporter, said)
            return said
        self.forget_watch()
        wait = humanize_span(self.app.desk.policy.peer_wait)
        self._tell(reporter, "Thank you. The desk has written to them privately, without your "
                             f"name. If nothing changes within {wait}, the admins take it from "
                             "there. There is nothing more you need to do.")
        return None

    def report_submitted(self, r: ReportSubmitted) -> str | None:
        """A report window sent. None when the report is filed (or the private word is on
        its way), else why not, as the reporter is also told privately: a window that
        answers in place must not thank them for a report that was not filed."""
        if not r.subject.strip():  # a window that names nobody (none the desk opened)
            said = "Your report could not be filed: it names nobody to report."
            self._tell(r.reporter, said)
            return said
        subject, who = self.person(r.subject), self.person(r.reporter)
        harmed = tuple(self.person(u) for u in r.harmed if u not in (r.reporter, r.subject))
        if r.nudge and not r.flagrant and r.channel and r.message_id:
            return self.ask_nudge(commands.Nudge(subject, who, self.source, r.channel,
                                                 r.message_id, r.message_text, r.message_link,
                                                 note=r.note, harmed=harmed,
                                                 anonymous=r.anonymous))
        return self._file(r.reporter, commands.FileReport(
            subject=subject, reporter=who, source=self.source, anonymous=r.anonymous,
            channel=r.channel, message_id=r.message_id, message_text=r.message_text,
            message_link=r.message_link, harmed=harmed, note=r.note, flagrant=r.flagrant,
            mark=r.mark))

    def direct(self, m: DirectMessage) -> str | None:
        """A private message to the desk: a report, a nudge, a confirmation, a reply, or the
        answer to a question the admins asked about the sender's report."""
        text = m.text.strip()
        lowered = text.lower()
        if says_enough(text):
            self.forget_watch()
            if not self.app.bus.handle(commands.NudgeEnough(self.person(m.user))):
                self._tell(m.user, "Thanks. Nothing of yours is waiting on an answer right now.")
            return None
        if lowered in _REREAD_WORDS:
            self.confirm_reread(m.user)
            return None
        words = text.split()
        if words and words[0].lower() in ("!coc", "/coc"):
            words = words[1:]
        if words and words[0].lower().lstrip("!") == "link":
            try:
                self._tell(m.user, self._link_command(m.user, tuple(words[1:])))
            except DeskError as exc:
                self._tell(m.user, f"Not done: {self.explain(exc)}")
            return None
        first = lowered.split(maxsplit=1)[0] if lowered else ""
        if first in _HELP_WORDS:
            self._tell(m.user, self.dm_help)
            return None
        link = self.transport.message_in(text)
        if first.lstrip("!") == "nudge":
            if link is None:
                self._tell(m.user, "To ask for a private word with the author, send `nudge` and "
                                   "a link to the message. " + self.dm_help)
                return None
            self._report_link(m.user, link.channel, link.message_id, nudge=True, note=None)
            return None
        if self._answered_question(m.user, text):
            return None
        if link is not None:
            self._report_link(m.user, link.channel, link.message_id, nudge=False, note=text)
            return None
        subject = next((u for u in self.transport.people_in(text) if u != m.user), None)
        if subject is None and self._author_wrote(m.user, text):
            return None
        if subject is not None:
            self._file(m.user, commands.FileReport(
                subject=self.person(subject), reporter=self.person(m.user),
                source=self.source, note=text))
            return None
        try:
            # to the admins' message when they wrote one, else after a step
            recorded = self.app.bus.handle(commands.SubjectWritesByDm(self.person(m.user), text))
            if recorded is None:
                recorded = self.app.bus.handle(commands.SubjectReplied(self.person(m.user), text))
        except DeskError as exc:
            self._tell(m.user, f"I could not pass that on: {self.explain(exc)}")
            return None
        if recorded is not None:
            self._tell(m.user, "Thank you for writing back. The admins can read what you wrote.")
            return None
        self._tell(m.user, "Thanks for writing. " + self.dm_help)
        return None

    def _answered_question(self, user: str, text: str) -> bool:
        """When the admins asked this person a question about their report that waits for an
        answer, their private message is the answer (the question said so); otherwise it is
        read as before (a report, a reply). True when it was an answer."""
        try:
            case_id = self.app.bus.handle(commands.AnswerByDm(self.person(user), text))
        except DeskError as exc:
            self._tell(user, f"I could not pass your answer on: {self.explain(exc)}")
            return True
        if case_id is None:
            return False
        self._tell(user, f"Thank you — your answer is with the admins of case {case_id}. "
                         "There is nothing more you need to do.")
        return True

    def _report_link(self, user: str, channel: str, message_id: str, *, nudge: bool,
                     note: str | None) -> None:
        watched = self.transport.looks_after(channel)
        if watched is None:
            # the desk may be able to read other rooms; it only looks after these
            self._tell(user, "That link is to a place this desk does not look after, so I did "
                             "not open it. You can still tell the admins: " + self.dm_help)
            return
        self.report_message(user, watched, message_id, nudge=nudge, note=note)

    def confirm_reread(self, user_id: str, case_id: int | None = None) -> int:
        """The subject says they read the Code of Conduct again (a warning asked them to)."""
        who = self.person(user_id)
        with self.app.uow() as uow:
            found = uow.cases.summaries(CaseFilter(states=views.OPEN_STATES, subject=who))
            cases = [uow.cases.get(s.id) for s in found if case_id in (None, s.id)]
        waiting = [c for c in cases if any(s.action is Action.WARN and s.counts for s in c.steps)
                   and not any(n.kind is NoteKind.REREAD for n in c.notes)]
        if not waiting:
            self._tell(user_id, "Thanks — there is no warning waiting for a confirmation from you.")
            return 0
        for case in waiting:
            assert case.id is not None
            self.app.bus.handle(commands.ConfirmReread(case.id, who))
        self._tell(user_id, "Thank you for reading it again; the admins can see that you did.")
        return len(waiting)

    # -- the peer step: what the author does next ---------------------------------------------
    def watched(self) -> dict[tuple[str, str], str]:
        """(channel, message id) → author, for every nudge on this platform still waiting:
        one query over the nudges the desk stores, trusted for a few seconds."""
        if time.monotonic() - self._watch_loaded > WATCH_TTL:
            with self._watch_lock, self.app.uow() as uow:
                self._watch = {(c, m): a for c, m, a in uow.nudges.waiting_on(self.name)}
                self._watch_loaded = time.monotonic()
        return self._watch

    def forget_watch(self) -> None:
        self._watch_loaded = float("-inf")

    def watches(self, channel: str, message_id: str | None = None,
                author: str | None = None) -> bool:
        """True when an event there could answer a nudge (the transports' cheap filter)."""
        watched = self.watched()
        if not watched:  # the usual case: nothing is waiting
            return False
        return any(c == channel and (message_id is None or m == message_id)
                   and (author is None or a == author) for (c, m), a in watched.items())

    @property
    def takes_reactions(self) -> bool:
        """Whether a reaction reports (the policy's ``[intake] reactions``): a transport that
        takes a report reaction away asks first, to draw no eyes to one the desk ignores."""
        return self.app.desk.policy.reactions

    def edited(self, e: MessageEdited) -> str | None:
        self._answered(e.channel, e.message_id, "edit", by=e.user)
        return None

    def deleted(self, d: MessageDeleted) -> str | None:
        self._answered(d.channel, d.message_id, "redaction", by=d.user)
        return None

    def _answered(self, channel: str, message_id: str, how: str, by: str | None) -> None:
        """The author edited or took away the nudged message. Only the author answers: a
        moderator's removal, or an edit event someone else forged, answers nothing."""
        author = self.watched().get((channel, message_id))
        if author is None or (by is not None and by != author):
            return
        count = self.app.bus.handle(commands.NudgeAnswered(self.person(author), channel,
                                                           message_id, how))
        self.forget_watch()
        if count:
            self._tell(author, "Thank you — that's all that was needed.")

    def channel_message(self, m: ChannelMessage) -> str | None:
        """Words close nothing: what the author writes next is shown to the reporters."""
        for (channel, message_id), author in list(self.watched().items()):
            if channel == m.channel and author == m.user:
                self.app.bus.handle(commands.AuthorWrote(self.person(author), channel,
                                                         message_id, m.text))
        return None

    def _author_wrote(self, author: str, text: str) -> bool:
        """The author of a nudged message wrote to the desk: their words go to the reporter."""
        shown = sum(int(self.app.bus.handle(commands.AuthorWrote(self.person(author), c, m, text)))
                    for (c, m), a in list(self.watched().items()) if a == author)
        if shown:
            self._tell(author, "Thank you for writing; we'll pass your words on.")
        return bool(shown)
