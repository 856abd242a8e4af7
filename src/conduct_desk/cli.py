"""The ``conduct`` command. Each command parses its input into a command for the bus."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from conduct_desk.domain.accounts import InviteKind
from conduct_desk.domain.errors import (
    ConfidentialityError,
    DeskError,
    InvalidInput,
    NotFound,
    unreadable,
)
from conduct_desk.domain.model import MAX_ID, NoteKind, SaidFrom, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import commands, privacy, views

if TYPE_CHECKING:
    from conduct_desk.config import Settings

app = typer.Typer(help="Conduct Desk: Code of Conduct enforcement for community admins.",
                  no_args_is_help=True, add_completion=False)
case_app = typer.Typer(help="Work on cases.", no_args_is_help=True)
person_app = typer.Typer(help="People: their history, their data (export, erase).",
                         no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
policy_app = typer.Typer(help="The policy file.", no_args_is_help=True)
app.add_typer(case_app, name="case")
app.add_typer(person_app, name="person")
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
admin_app = typer.Typer(help="Web desk accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(token_app, name="token")
discord_app = typer.Typer(help="The Discord app.", no_args_is_help=True)
app.add_typer(discord_app, name="discord")

logger = logging.getLogger(__name__)

Admin = Annotated[str, typer.Option("--admin", "-a", help="The admin acting (you).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AccountName = Annotated[str, typer.Argument(help="The account's name; see `conduct admin list`.")]
PasswordFile = Annotated[Path | None, typer.Option(
    help="Read the password from this file instead of asking.")]


@contextmanager
def friendly_errors() -> Iterator[None]:
    """A user's mistake prints one line naming the fix, exit code 2; nothing half-written.
    The database connections the command opened close with it."""
    try:
        yield
    except ConfidentialityError as exc:
        where = {"text": "--text", "suggestion": "--suggestion"}.get(
            exc.field, f"{exc.field} in the policy file")
        typer.echo(f"error: {exc} (change {where})", err=True)
        raise typer.Exit(exc.exit_code) from None
    except DeskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    finally:
        while _OPENED:
            _OPENED.pop().dispose()


_OPENED: list[Any] = []  # engines made by _app() for the command running now


def _app() -> Any:
    from conduct_desk.bootstrap import bootstrap

    app = bootstrap(with_adapters=True)
    _OPENED.append(app.engine)  # friendly_errors closes its connections when the command ends
    return app


def _person(text: str) -> PersonRef:
    from conduct_desk.config import Settings

    return PersonRef.parse(text, Settings().default_platform)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(views.jsonable(value), indent=2, ensure_ascii=False))


def _case_id(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"case id {value!r} is not a number; see `conduct case list`") from None
    if number < 1:
        raise InvalidInput(f"case id {value!r} must be 1 or more; see `conduct case list`")
    if number > MAX_ID:
        raise NotFound(f"there is no case {number}; see `conduct case list` for open cases")
    return number


# -- setup -----------------------------------------------------------------------------------


@app.command()
def init(
    preset: Annotated[str, typer.Option(help="guide or contributor-covenant-2.1")] = "guide",
    path: Annotated[Path, typer.Option(help="Where to write the policy.")] = Path("conduct.toml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented policy file to start from."""
    from conduct_desk.config import preset_text

    with friendly_errors():
        text = preset_text(preset)
        if path.exists() and not force:
            raise InvalidInput(f"{path} already exists; edit it, or pass --force to replace it")
        try:
            path.write_text(text, "utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write {path} ({unreadable(exc)}); give --path a file in "
                               "a folder that exists, e.g. --path conduct.toml") from None
    typer.echo(f"wrote {path} (preset {preset}); edit it, then check it with "
               f"`conduct policy check {path}`")


@policy_app.command("check")
def policy_check(path: Annotated[Path, typer.Argument()] = Path("conduct.toml"),
                 discord: Annotated[bool, typer.Option(
                     "--discord", help="Check it for Discord even if CONDUCT_DISCORD_* is "
                                       "not set.")] = False) -> None:
    """Validate a policy file and its texts (and for Discord, when it is configured)."""
    from conduct_desk.config import Settings, load_policy

    with friendly_errors():
        policy = load_policy(Settings(policy=path))
        _check_for_platforms(policy, discord)
    typer.echo(f"{path}: valid — ladder: {' → '.join(r.name for r in policy.ladder)}")


def _check_for_platforms(policy: Any, discord: bool) -> None:
    """What a configured platform cannot do as the policy says (Discord's 28-day timeouts)."""
    from conduct_desk.platforms.discord import policy_problems
    from conduct_desk.platforms.discord.settings import DiscordSettings

    if discord or DiscordSettings().configured:
        problems = policy_problems(policy)
        if problems:
            raise InvalidInput("not valid for Discord: " + "; ".join(problems))


@discord_app.command("invite-url")
def discord_invite_url(
    application_id: Annotated[str | None, typer.Option(
        help="The app's Application ID (default: CONDUCT_DISCORD_APPLICATION_ID).")] = None,
    guild_id: Annotated[str | None, typer.Option(
        help="Preselect this server (default: CONDUCT_DISCORD_GUILD_ID).")] = None,
) -> None:
    """Print the link that adds the bot to a server with exactly the permissions and scopes
    the desk uses (bot, applications.commands)."""
    from conduct_desk.platforms.discord.components import PERMISSIONS, SCOPES, invite_url
    from conduct_desk.platforms.discord.settings import SNOWFLAKE, DiscordSettings

    with friendly_errors():
        settings = DiscordSettings()
        app_id = (application_id or settings.application_id or "").strip()
        guild = (guild_id or settings.guild_id or "").strip() or None
        if not app_id:
            raise InvalidInput("no application id: pass --application-id, or set "
                               "CONDUCT_DISCORD_APPLICATION_ID (Developer Portal → General "
                               "Information → Application ID)")
        for value, flag in ((app_id, "--application-id"), (guild, "--guild-id")):
            if value is not None and not SNOWFLAKE.fullmatch(value):
                raise InvalidInput(f"{flag}: {value!r} is not a Discord id (a number like "
                                   "123456789012345678)")
    typer.echo(invite_url(app_id, guild))
    typer.echo(f"Scopes: {', '.join(SCOPES)}. Permissions:", err=True)
    for name, why in PERMISSIONS.values():
        typer.echo(f"  {name}: {why}", err=True)


@app.command("secret-key")
def secret_key() -> None:
    """Print a fresh key for sealing anonymous reporters' ids; keep it in a file and point
    CONDUCT_SECRET_KEY_FILE at it (losing it loses the way to reach those reporters)."""
    from conduct_desk.storage.sealing import new_key

    typer.echo(new_key())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or update the database schema (safe to run again)."""
    from conduct_desk.config import Settings
    from conduct_desk.storage.db import create_engine, head_revision, upgrade

    with friendly_errors():
        engine = create_engine(Settings().database_url)
        upgrade(engine)
    typer.echo(f"database {engine.url.render_as_string(hide_password=True)} is at revision "
               f"{head_revision()}")


@db_app.command("backup")
def db_backup(
    target: Annotated[Path, typer.Argument(help="The file to write, e.g. backups/conduct-2026-12-02.db")],
    overwrite: Annotated[bool, typer.Option(help="Replace TARGET when it exists.")] = False,
) -> None:
    """Copy the SQLite database to TARGET while the desk keeps running (online backup).
    On PostgreSQL, use pg_dump."""
    from conduct_desk.config import Settings
    from conduct_desk.storage.db import backup, create_engine

    with friendly_errors():
        engine = create_engine(Settings().database_url)
        _OPENED.append(engine)
        pages = backup(engine, target, overwrite=overwrite)
    typer.echo(f"backed up {pages} pages to {target} (to restore it, see the README: Backups)")


# -- intake ----------------------------------------------------------------------------------


@app.command()
def report(
    subject: Annotated[str, typer.Option(help="Who it is about, e.g. alice or slack:U123.")],
    reporter: Annotated[str | None, typer.Option(help="Who reports (leave out if anonymous).")]
    = None,
    anonymous: Annotated[bool, typer.Option(help="Keep the reporter's name from everyone.")]
    = False,
    channel: Annotated[str | None, typer.Option(help="Where it was said.")] = None,
    message_id: Annotated[str | None, typer.Option(help="The message's id on the platform.")]
    = None,
    text: Annotated[str | None, typer.Option(
        help="The reporter's account of what happened: for the admins only, never quoted to "
             "the person.")] = None,
    said: Annotated[str | None, typer.Option(
        help="The exact words that were said, as the reporter pasted them: these may be "
             "quoted to the person.")] = None,
    link: Annotated[str | None, typer.Option(help="A link to the message.")] = None,
    hurt: Annotated[list[str] | None, typer.Option(help="Someone else who was hurt (repeat).")]
    = None,
    note: Annotated[str | None, typer.Option(help="Anything to add (optional).")] = None,
    flagrant: Annotated[bool, typer.Option(help="Serious or endangering: act at once.")] = False,
    as_json: AsJson = False,
) -> None:
    """File a report. No reason or proof is needed; one report opens a case."""
    with friendly_errors():
        a = _app()
        if anonymous and reporter:  # sealed with the desk's key, or not filed at all
            a.check_secret_key()
        filed = a.bus.handle(commands.FileReport(
            subject=_person(subject), reporter=_person(reporter) if reporter else None,
            anonymous=anonymous, source=Source.CLI, channel=channel, message_id=message_id,
            message_text=said, said_from=SaidFrom.PASTED if said else None, account=text,
            message_link=link, harmed=tuple(_person(h) for h in hurt or ()),
            note=note, flagrant=flagrant))
    if as_json:
        _print_json(filed)
        return
    how = "opened" if filed.opened_case else "joined the open case about the same message"
    typer.echo(f"case {filed.case_id}: report {filed.report_id} {how}")


# -- cases -----------------------------------------------------------------------------------


@case_app.command("list")
def case_list(
    state: Annotated[str, typer.Option(help="open, all, or one of new, taken, acting, resolved")]
    = "open",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
    appeals: Annotated[bool, typer.Option(
        "--appeals", help="Only cases with an appeal waiting for a decision (any state).")]
    = False,
    unassigned: Annotated[bool, typer.Option("--unassigned", help="Only cases nobody has taken.")]
    = False,
    flagrant: Annotated[bool, typer.Option("--flagrant", help="Only flagrant cases.")] = False,
    overdue: Annotated[bool, typer.Option(
        "--overdue", help="Only open cases whose next deadline has passed.")] = False,
    platform: Annotated[str, typer.Option(help="Only cases about someone on this platform.")]
    = "",
    search: Annotated[str, typer.Option(
        help="A case number (12 or #12), a person (sam, sandbox:sam) or words in the "
             "reports.")] = "",
    admin: Annotated[str | None, typer.Option(
        "--admin", "-a", help="List as this admin: cases about them (and, with --search, "
                              "cases they are involved in) are left out.")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only the cases --admin has taken.")]
    = False,
    as_json: AsJson = False,
) -> None:
    """Cases, most urgent first."""
    with friendly_errors():
        views.parse_states(state)
        if mine and not admin:
            raise InvalidInput("--mine lists one admin's cases: say whose with --admin NAME",
                               field="admin")
        a = _app()
        filters = views.QueueFilters(state=state, mine=mine, unassigned=unassigned,
                                     flagrant=flagrant, overdue=overdue, appeals=appeals,
                                     platform=platform, q=search)
        items, _, cap = views.filtered_queue(a.uow(), a.desk.clock.now(), filters,
                                             (admin,) if admin else (), limit=limit)
    capped = views.capped_search(cap) if cap is not None else None
    if as_json:
        _print_json([{**views.jsonable(i.summary), "due_at": views.jsonable(i.due_at),
                      "deadline": i.deadline.value} for i in items])
        if capped:  # the list stays a list: the line goes beside it
            typer.echo(capped, err=True)
        return
    if not items:
        typer.echo("no cases match these filters" if filters.narrowed else
                   "no appeals waiting" if appeals else
                   "no cases" if state != "open" else "no open cases")
        return
    for i in items:
        s = i.summary
        flags = " FLAGRANT" if s.flagrant else ""
        hurt = f" hurt:{s.hurt}" if s.hurt else ""
        who = f" taken by {s.taken_by}" if s.taken_by else ""
        last = f" last: {s.last_step}" if s.last_step else ""
        appeal = (f" APPEAL (decide by {s.appeal_due_at:%Y-%m-%d %H:%M} UTC)"
                  if s.appeal_due_at else "")
        typer.echo(f"#{s.id:<5} {s.state:<9} {i.deadline.value:<9} {s.subject}{flags}{hurt}"
                   f"{who}{last}{appeal}")
    if capped:
        typer.echo(capped)


@case_app.command("show")
def case_show(case_id: str, admin: Annotated[str | None, typer.Option(
        "--admin", "-a", help="Check recusal for this admin.")] = None, as_json: AsJson = False,
) -> None:
    """One case: reports, steps, the recommended next step, and its timeline."""
    with friendly_errors():
        a = _app()
        known = views.known_admin(a.uow(), a.desk, admin) if admin is not None else None
        detail = views.case_detail(a.uow(), a.desk, _case_id(case_id),
                                   known.name if known else None, known.aliases if known else ())
    if as_json:
        _print_json(views.case_json(detail))
        return
    typer.echo(render_case(detail))


def render_case(detail: views.CaseDetail) -> str:
    c = detail.case
    lines = [f"Case {c.id} about {c.subject} — {c.state}"
             + (f" ({c.outcome})" if c.outcome else "")
             + (" — FLAGRANT" if c.flagrant else "")]
    if c.is_open:
        lines.append(f"  deadline: {detail.deadline.value}"
                     + (f", due {c.due_at:%Y-%m-%d %H:%M} UTC" if c.due_at else ""))
    if c.taken_by:
        lines.append(f"  taken by {c.taken_by}")
    if c.channel:
        lines.append(f"  where: {c.channel}")
    hurt = [str(p) for p in views.named_hurt(c)]
    if hurt:
        lines.append(f"  people hurt: {', '.join(hurt)}")
    for h in detail.hurt_admins:
        lines.append(f"  admin named as hurt: {h.admin} (as {h.person}); not recused unless they "
                     f"step aside or another admin confirms it: `conduct case confirm-hurt {c.id} "
                     f"--person {h.person} --admin YOU`")
    if c.confirmed_hurt:
        lines.append(f"  confirmed hurt: {', '.join(map(str, c.confirmed_hurt))}")
    if detail.stepped_aside:
        lines.append(f"  stepped aside: {', '.join(detail.stepped_aside)}")
    if detail.backup is not None:
        lines.append("  EVERY ADMIN IS INVOLVED: this case goes to the backup admins ("
                     + (", ".join(detail.backup) or "none set: add them under [admins] backup")
                     + ")")
    for line in detail.now_lines:
        lines.append(f"  {c.subject} now: {line}")
    if detail.linked:
        lines.append(f"  linked accounts: {', '.join(map(str, detail.linked))}")
    lines.extend(f"  {line}" for line in detail.evasion)
    if detail.open_others:
        lines.append("  other open cases about " + str(c.subject) + ": "
                     + ", ".join(f"case {o.id}" for o in detail.open_others))
    if detail.undelivered:
        lines.append("  messages not delivered:")
        lines.extend(f"    {n.sentence}" for n in detail.undelivered)
    lines.append("  reports:")
    for i, r in enumerate(c.reports):
        lines.append(f"    #{r.id} {r.filed_at:%Y-%m-%d %H:%M} by {views.reporter_label(c, i)} "
                     f"via {r.source}" + (" (flagrant)" if r.flagrant else ""))
        if r.words_said:
            lines.append(f"      words said ({r.said_origin}; may be quoted to the person):")
            lines.append(f"      > {r.words_said}")
        if r.account:
            lines.append("      the reporter's account (admins only):")
            lines.append(f"      {r.account}")
        if r.message_link:
            lines.append(f"      {r.message_link}")
        if r.note:
            lines.append(f"      note: {r.note}")
    if c.steps:
        lines.append("  steps:")
        for s in c.steps:
            until = f" until {s.until:%Y-%m-%d %H:%M} UTC" if s.until else ""
            lines.append(f"    #{s.id} {s.rung}{until} by {s.actor}: {s.status}"
                         + (" (set aside on appeal)" if s.overturned_at else "")
                         + (f" — {s.detail}" if s.detail else ""))
            lines.extend(f"      on {e.line}" for e in detail.effects_of(s.id))
    for con in c.consultations:
        who = f"with {con.person}" if con.person else "not possible"
        lines.append(f"  consultation {who} by {con.admin}: {con.summary}")
    for n in c.notes:
        if n.kind in (NoteKind.REREAD, NoteKind.APPEAL):
            lines.append(f"  {n.kind} {n.at:%Y-%m-%d %H:%M}: {n.text}")
        elif n in c.decisions:
            lines.append(f"  {n.kind} by {n.by} {n.at:%Y-%m-%d %H:%M}; the person was told: "
                         f"{n.text}")
    if c.appeal_due_at is not None:
        step = c.appealed_step
        lines.append(f"  APPEAL waiting: decide by {c.appeal_due_at:%Y-%m-%d %H:%M} UTC"
                     + (f", against step #{step.id} {step.rung} by {step.actor}" if step else "")
                     + f"; `conduct case appeal-decide {c.id} --admin NAME --decision "
                       "upheld|overturned|changed`")
    if detail.follow_ups:
        lines.append("  follow-ups:")
        for f in detail.follow_ups:
            lines.append(f"    {f.message.at:%Y-%m-%d %H:%M} {f.sentence}:")
            lines.extend(f"      > {line}" for line in f.message.text.splitlines())
    if detail.history:
        lines.append("  earlier, in other cases: " + ", ".join(
            f"{p.rung} (case {p.case_id}, {p.at:%Y-%m-%d})" for p in detail.history))
    if detail.recommendation:
        lines.append(f"  recommended next: {detail.recommendation.rung.name} — "
                     f"{detail.recommendation.reason}")
    elif detail.no_step_because:
        lines.append(f"  {detail.no_step_because}")
    lines.append("  timeline:")
    lines.extend(f"    {e.at:%Y-%m-%d %H:%M}  {e.actor:<12} {e.summary}" for e in detail.timeline)
    return "\n".join(lines)


def _act(build: Callable[[], commands.Command], done: Callable[[Any], str]) -> None:
    with friendly_errors():
        a = _app()
        result = a.bus.handle(build())
    typer.echo(done(result))


def _act_as(admin: str, build: Callable[[bool], commands.Command],
            done: Callable[[Any], str]) -> None:
    """Run a command that depends on the acting admin's role: the command line has no
    sign-in, so the role is the named admin's (their account, or their platform's setting)."""
    with friendly_errors():
        a = _app()
        known = views.known_admin(a.uow(), a.desk, admin)
        result = a.bus.handle(build(known.role.may_reassign))
    typer.echo(done(result))


@case_app.command("take")
def case_take(case_id: str, admin: Admin) -> None:
    """Take a case: you are the admin on it now."""
    _act(lambda: commands.TakeCase(_case_id(case_id), admin),
         lambda _: f"case {case_id} is yours, {admin}")


@case_app.command("hand-over")
def case_hand_over(
    case_id: str, admin: Admin,
    to: Annotated[str, typer.Option("--to", help="The admin who takes the case over.")],
) -> None:
    """Give a case to another admin (its holder does this; an admin with the admin role may
    when the holder is away)."""
    _act_as(admin, lambda reassign: commands.HandOver(_case_id(case_id), admin, to,
                                                      may_reassign=reassign),
            lambda _: f"case {case_id} is {to}'s now")


@case_app.command("recuse")
def case_recuse(case_id: str, admin: Admin) -> None:
    """Step aside from a case (e.g. when you were named as hurt); if it is yours, it is free
    for another admin. No reason is asked."""
    _act(lambda: commands.Recuse(_case_id(case_id), admin),
         lambda _: f"case {case_id}: {admin} stepped aside")


@case_app.command("confirm-hurt")
def case_confirm_hurt(
    case_id: str, admin: Admin,
    person: Annotated[str, typer.Option(help="The person named as hurt, as the case shows.")],
) -> None:
    """Confirm that a person named as hurt was hurt: an admin so confirmed steps aside."""
    _act(lambda: commands.ConfirmHurt(_case_id(case_id), admin, person),
         lambda _: f"case {case_id}: {person} confirmed as hurt")


@case_app.command("step")
def case_step(
    case_id: str,
    step: Annotated[str, typer.Argument(help="A step of the policy's ladder, e.g. remind.")],
    admin: Admin,
    duration: Annotated[str | None, typer.Option(help="For a suspension, e.g. 24h.")] = None,
    text: Annotated[str | None, typer.Option(help="Send this instead of the policy's text.")]
    = None,
    reason: Annotated[str | None, typer.Option(help="Why, when not the recommended step.")]
    = None,
    suggestion: Annotated[str | None, typer.Option(help="For suggest: the alternative.")] = None,
) -> None:
    """Take a step of the ladder; the desk carries it out on the platform."""
    with friendly_errors():
        a = _app()
        cid = _case_id(case_id)
        step_id = a.bus.handle(commands.TakeStep(cid, step, admin, duration, text, reason,
                                                 suggestion))
        detail = views.case_detail(a.uow(), a.desk, cid)
    s = detail.case.step(step_id)
    typer.echo(f"case {cid}: step #{s.id} {s.rung}: {s.status}" + (f" — {s.detail}" if s.detail
                                                                  else ""))


@case_app.command("preview")
def case_preview(case_id: str, step: str, admin: Admin,
                 duration: Annotated[str | None, typer.Option()] = None,
                 suggestion: Annotated[str | None, typer.Option()] = None) -> None:
    """Print the exact text a step would send, without sending it."""
    with friendly_errors():
        a = _app()
        composed = views.preview_step(a.uow(), a.desk, _case_id(case_id), step, admin,
                                      duration=duration, suggestion=suggestion)
    typer.echo(composed.text)
    if composed.quote_from:
        typer.echo(f"(the quote was {composed.quote_from})", err=True)


@case_app.command("ask")
def case_ask(
    case_id: str, admin: Admin,
    report: Annotated[int, typer.Option(help="The report whose reporter you ask (its #id in "
                                              "`conduct case show`).")],
    text: Annotated[str, typer.Option(help="Your question; the reporter reads that answering "
                                            "is optional.")],
) -> None:
    """Ask a reporter a question. They see it behind their status link (and by private
    message when they reported from a chat); an anonymous reporter stays anonymous."""
    _act(lambda: commands.AskReporter(_case_id(case_id), admin, report, text),
         lambda _: f"case {case_id}: question sent to the reporter of report {report}; "
                   "answering is up to them")


@case_app.command("write")
def case_write(
    case_id: str, admin: Admin,
    text: Annotated[str, typer.Option(help="Your message; it must not name who reported or "
                                            "who was hurt.")],
) -> None:
    """Write to the person the case is about (their page, and a private message)."""
    _act(lambda: commands.WriteToSubject(_case_id(case_id), admin, text),
         lambda _: f"case {case_id}: message sent to the person it is about")


@case_app.command("consult")
def case_consult(
    case_id: str, admin: Admin,
    summary: Annotated[str, typer.Option(help="What they said, or why it was not possible.")],
    person: Annotated[str | None, typer.Option(help="The person hurt you talked with.")] = None,
    not_possible: Annotated[bool, typer.Option(help="Nobody could be consulted.")] = False,
) -> None:
    """Record a consultation with the people who were hurt (needed before a ban)."""
    with friendly_errors():
        if bool(person) == not_possible:
            raise InvalidInput("give --person P for a consultation, or --not-possible with the "
                               "reason in --summary")
    _act(lambda: commands.Consult(_case_id(case_id), admin, summary,
                                  _person(person) if person else None),
         lambda _: f"case {case_id}: consultation recorded")


@case_app.command("resolve")
def case_resolve(
    case_id: str, admin: Admin,
    outcome: Annotated[str, typer.Option(help="apologized, steps-taken, no-action, duplicate")],
    reason: Annotated[str | None, typer.Option(
        help="Needed for no-action and duplicate, and for apologized when no step was taken "
             "(say where the apology was made).")]
    = None,
) -> None:
    """Close a case with its outcome; the reporter is told."""
    _act_as(admin, lambda reassign: commands.ResolveCase(_case_id(case_id), admin, outcome,
                                                         reason, may_reassign=reassign),
            lambda _: f"case {case_id}: resolved — {outcome}")


@case_app.command("reopen")
def case_reopen(case_id: str, admin: Admin) -> None:
    """Reopen a resolved case (its former holder, or an admin with the admin role)."""
    _act_as(admin, lambda reassign: commands.ReopenCase(_case_id(case_id), admin,
                                                        may_reassign=reassign),
         lambda _: f"case {case_id}: reopened, taken by {admin}")


@case_app.command("done")
def case_done(case_id: str, step_id: int, admin: Admin) -> None:
    """Mark a manual step done after doing it by hand."""
    _act(lambda: commands.MarkManualDone(_case_id(case_id), step_id, admin),
         lambda _: f"case {case_id}: step #{step_id} marked done")


@case_app.command("retry")
def case_retry(case_id: str, step_id: int) -> None:
    """Try a pending or failed step again now."""
    _act(lambda: commands.RetryStep(_case_id(case_id), step_id),
         lambda status: f"case {case_id}: step #{step_id}: {status}")


@case_app.command("appeal-decide")
def case_appeal_decide(
    case_id: str, admin: Admin,
    decision: Annotated[str, typer.Option(help="upheld, overturned or changed")],
    to: Annotated[str | None, typer.Option(
        help="For changed: the lower step that replaces the one appealed, e.g. warn.")] = None,
    duration: Annotated[str | None, typer.Option(
        help="For changed to a suspension: how long, e.g. 12h.")] = None,
    text: Annotated[str | None, typer.Option(
        help="Tell the person this instead of the policy's words.")] = None,
    preview: Annotated[bool, typer.Option(
        help="Print the message the decision would send, and decide nothing.")] = False,
) -> None:
    """Decide an appeal (an admin who did not take the appealed step). Overturned undoes the
    step on the platform and stops counting it; changed replaces it with a lower step."""
    if preview:
        with friendly_errors():
            a = _app()
            draft = views.preview_appeal_decision(a.uow(), a.desk, _case_id(case_id), admin,
                                                  decision, to=to, duration=duration)
        typer.echo(draft.text)
        return
    _act(lambda: commands.DecideAppeal(_case_id(case_id), admin, decision, to, duration, text),
         lambda result: f"case {case_id}: appeal {result}; the person is told")


@case_app.command("lift")
def case_lift(case_id: str, step_id: int, admin: Admin) -> None:
    """End a suspension early (restores the account and welcomes the person back)."""
    _act(lambda: commands.LiftSuspension(_case_id(case_id), step_id, admin),
         lambda _: f"case {case_id}: suspension #{step_id} lifted")


# -- people, audit ---------------------------------------------------------------------------


@person_app.command("show")
def person_show(person: str, as_json: AsJson = False) -> None:
    """One person's history across cases."""
    with friendly_errors():
        a = _app()
        ref = _person(person)
        history = views.person_history(a.uow(), ref, now=a.desk.clock.now())
        if not history.cases and not history.linked:
            raise InvalidInput(f"no case is about {ref}; check the id (platform:user)")
    if as_json:
        _print_json(history)
        return
    typer.echo(f"{ref}: {len(history.cases)} case(s)")
    if history.linked:
        typer.echo(f"  linked accounts: {', '.join(map(str, history.linked))}")
    for line in history.now_lines or ["no step in force"]:
        typer.echo(f"  now: {line}")
    for s in history.cases:
        typer.echo(f"  case {s.id}: {s.state}" + (f" ({s.outcome})" if s.outcome else "")
                   + f", opened {s.opened_at:%Y-%m-%d}")
    for p in history.steps:
        typer.echo(f"  {p.at:%Y-%m-%d %H:%M} {p.rung} (case {p.case_id})")


@person_app.command("link")
def person_link(
    accounts: Annotated[list[str], typer.Argument(
        help="Two or more accounts of one person: slack:U123 matrix:@name:server discord:123 "
             "web:name.")],
    admin: Admin,
) -> None:
    """Link accounts into one person: their history counts together (audited)."""
    _act(lambda: commands.LinkAccounts(tuple(accounts), admin),
         lambda person: f"linked as one person: {', '.join(map(str, person))}")


@person_app.command("unlink")
def person_unlink(
    account: Annotated[str, typer.Argument(help="The account to take out, e.g. slack:U123.")],
    admin: Admin,
) -> None:
    """Take one account out of the person it was linked to (audited)."""
    _act(lambda: commands.UnlinkAccount(account, admin),
         lambda others: f"{account} is no longer linked to {', '.join(map(str, others))}")


@person_app.command("export")
def person_export(
    person: str, admin: Admin,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the JSON to this file (made readable by you only) instead of "
                      "printing it.")] = None,
    anonymous_too: Annotated[bool, typer.Option(
        "--anonymous-too", help="Include what they did anonymously: only for a copy that goes "
                                "to the person themselves (audited as such).")] = False,
) -> None:
    """Everything the desk holds about a person, as JSON: cases about them, reports they
    made, private words, notes, messages, steps, audit entries, account. Who reported them
    is never included, nor (without --anonymous-too) what they did anonymously. Audited."""
    from conduct_desk.service.privacy import export_person

    with friendly_errors():
        if out is not None and out.exists():
            raise InvalidInput(f"--out: {out} exists already; give another file")
        a = _app()
        ref = _person(person)
        fd = None
        if out is not None:  # opened first: an export that cannot be written is not made
            try:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as exc:
                raise InvalidInput(f"--out: cannot write {out} ({exc.strerror}); give another "
                                   "file") from None
        try:
            data = export_person(a.uow(), a.desk, ref, admin, anonymous_too=anonymous_too)
        except BaseException:
            if fd is not None and out is not None:
                os.close(fd)
                out.unlink(missing_ok=True)
            raise
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if fd is None:
            typer.echo(text)
            return
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    typer.echo(f"wrote what the desk holds about {ref} to {out}")


@person_app.command("erase")
def person_erase(
    person: str, admin: Admin,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a person's data: their ids, their words and the texts about them. What safety
    needs stays (that a ban or suspension exists, its dates and rung, outcomes, counts), under
    a pseudonym the ladder still recognises. A case about them must be resolved first.
    Audited; the audit entries naming them are redacted and keep their hashes."""
    from conduct_desk.service.privacy import erase_person

    with friendly_errors():
        a = _app()
        ref = _person(person)
        if not yes and not typer.confirm(
                f"Erase what the desk holds about {ref}? This cannot be undone "
                "(export it first with `conduct person export`)"):
            raise typer.Exit(1)
        result = erase_person(a.uow(), a.desk, ref, admin)
    typer.echo(f"erased {ref}; now known only as {result.pseudonym}")
    for line in result.lines():
        typer.echo(f"  {line}")


class ReportFormat(StrEnum):
    md = "md"
    json = "json"
    html = "html"


@app.command()
def transparency(
    period: Annotated[str, typer.Option(
        help="A quarter (2026-Q4), a month (2026-11) or a year (2026), in UTC.")],
    format: Annotated[ReportFormat, typer.Option(
        "--format", help="md (Markdown), json or html.")] = ReportFormat.md,
) -> None:
    """The transparency report of a period: reports, cases, outcomes, steps by rung, times to
    act, appeals, missed deadlines. Counts under the policy's [transparency] min_count are
    left out, so nobody can be recognised."""
    from conduct_desk.domain.transparency import Period, as_html, as_json, as_markdown

    with friendly_errors():
        p = Period.parse(period)
        a = _app()
        report = a.transparency(p)
    if format is ReportFormat.json:
        typer.echo(as_json(report))
    elif format is ReportFormat.html:
        typer.echo(as_html(report, a.desk.policy.community), nl=False)
    else:
        typer.echo(as_markdown(report, a.desk.policy.community), nl=False)


audit_app = typer.Typer(help="The append-only audit log, and the proofs that it is whole.")
app.add_typer(audit_app, name="audit")


@audit_app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    case: Annotated[int | None, typer.Option(help="Only this case.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 500,
    as_json: AsJson = False,
) -> None:
    """The append-only audit log (`conduct audit verify` checks that nobody changed it)."""
    if ctx.invoked_subcommand is not None:
        return
    with friendly_errors():
        if case is not None:
            _case_id(str(case))
        a = _app()
        with a.uow() as uow:
            entries = uow.audit.entries(case_id=case, actor=actor, limit=limit)
    if as_json:
        _print_json(entries)
        return
    for e in entries:
        typer.echo(f"{e.at:%Y-%m-%d %H:%M:%S} case {e.case_id or '-':<5} {e.actor:<14} "
                   f"{e.summary}")


def _read_checkpoint(value: str) -> Any:
    from conduct_desk.domain.audit import Checkpoint

    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = Path(value).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"--against: cannot read {value} ({unreadable(exc)}); give a "
                               "checkpoint file, or its JSON") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInput("--against: not JSON; give a checkpoint as `conduct audit checkpoint` "
                           "prints it, or {\"size\": N, \"root\": \"<hex>\"}") from None
    try:
        return Checkpoint.from_json(data)
    except DeskError as exc:
        raise InvalidInput(f"--against: {exc}") from None


@audit_app.command("verify")
def audit_verify(
    against: Annotated[str | None, typer.Option(
        help="A checkpoint kept earlier (a file, or its JSON): the log must still start with it.",
    )] = None,
) -> None:
    """Check every entry against its hash, the desk's checkpoints, and --against; name each
    entry found edited, deleted or cut off. Exit code 1 when anything is wrong."""
    import time

    from conduct_desk.domain.audit import LogFault
    from conduct_desk.service.audit import verify_log
    from conduct_desk.storage.signing import signature_valid

    with friendly_errors():
        given = _read_checkpoint(against) if against is not None else None
        a = _app()
        started = time.perf_counter()
        result = verify_log(a.uow(), given, signature_valid)
    if given is not None and given.signature is not None and not signature_valid(given):
        result.faults.insert(0, LogFault("the checkpoint given has a signature that does not "
                                         "verify: it was altered, or not signed by the key it "
                                         "names"))
    took = time.perf_counter() - started
    if result.faults:
        typer.echo(f"audit log NOT OK: {len(result.faults)} problem(s) in {result.size} entries",
                   err=True)
        for fault in result.faults:
            typer.echo(f"  {fault}", err=True)
        raise typer.Exit(1)
    what = f"; it starts with the checkpoint given (size {given.size})" if given else ""
    typer.echo(f"audit log OK: {result.size} entries, root {result.root.hex()}, checked in "
               f"{took:.2f} s ({result.checkpoints} checkpoint(s) of the desk's agree; "
               f"{result.redacted} entries redacted, their hashes kept){what}")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Print the latest checkpoint (JSON: size, root, signed_at, key, signature), made now if
    the log has grown; keep it to check the log against later (`verify --against`)."""
    from conduct_desk.service.audit import make_checkpoint

    with friendly_errors():
        a = _app()
        made = make_checkpoint(a.uow(), a.signer, a.desk.clock.now())
    typer.echo(json.dumps(made.checkpoint.as_json(), indent=2))


@audit_app.command("keygen")
def audit_keygen(
    path: Annotated[Path, typer.Argument(help="The file to write the private key to (0600).")],
) -> None:
    """Make the desk's checkpoint signing key; point CONDUCT_AUDIT_SIGNING_KEY_FILE at it."""
    from conduct_desk.storage.signing import CheckpointSigner, new_signing_key

    with friendly_errors():
        key = new_signing_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidInput(f"{path} exists already; give another path (a key is never "
                               "overwritten)") from None
        except OSError as exc:
            raise InvalidInput(f"cannot write {path} ({exc.strerror}); give another path") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(key + "\n")
        public = CheckpointSigner(key).public_key.hex()
    typer.echo(f"wrote the signing key to {path} (only you can read it)\npublic key: {public}\n"
               f"set CONDUCT_AUDIT_SIGNING_KEY_FILE={path}")


# -- running ---------------------------------------------------------------------------------


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run what is due now, then stop.")] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 1.0,
    batch: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Run due timers (restores, deadline reminders, retries) until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with friendly_errors():
        a = _app()
        a.check_secret_key()
        name = f"{socket.gethostname()}-{id(a)}"
        ran = run_worker(a, name, batch=batch, interval=interval, once=once)
    typer.echo(f"worker stopped after running {ran} timer(s)")


def run_worker(a: Any, name: str, *, batch: int, interval: float, once: bool) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return worker_loop(a, name, stop, batch=batch, interval=interval, once=once)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


RETENTION_EVERY = timedelta(hours=1)  # how often the worker removes texts past retention


def worker_loop(a: Any, name: str, stop: threading.Event, *, batch: int, interval: float,
                once: bool = False) -> int:
    """Run due timers until ``stop`` is set (or, with ``once``, until none is due); and the
    retention sweep when starting, then every :data:`RETENTION_EVERY` of the desk's clock."""
    total = 0
    sweep_at = None
    sweeping: int | None = None  # a sweep under way: the last case id it covered
    while not stop.is_set():
        now = a.desk.clock.now()
        if sweeping is not None or sweep_at is None or now >= sweep_at:
            if sweeping is None:
                sweep_at = now + RETENTION_EVERY
            try:  # a window of cases, then the timers due: a long sweep never holds them up
                sweeping = a.bus.handle(commands.ApplyRetention(
                    after=sweeping or 0, cases=privacy.RETENTION_WINDOW)).after
            except Exception:  # the timers still run; the sweep is tried again next time
                sweeping = None
                logger.exception("retention sweep failed; trying again in %s", RETENTION_EVERY)
        try:
            ran = a.bus.handle(commands.RunDueTimers(
                worker=name, limit=batch, lease=a.desk.lease))
        except DeskError as exc:  # e.g. the database went away for a moment: keep going
            logger.warning("timer worker: %s", exc)
            ran = 0
        total += ran
        if ran == 0 and sweeping is None:
            if once:
                break
            stop.wait(interval)
    return total


def uvicorn_proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn believes X-Forwarded-* only from CONDUCT_TRUSTED_PROXIES (by default from no
    one: uvicorn's own default trusts loopback, which would let a local visitor forge them)."""
    from conduct_desk.web.security import TrustedProxies

    proxies = TrustedProxies.parse(settings.trusted_proxies)
    if not proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": proxies.as_uvicorn()}


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between timer polls.")]
    = 1.0,
) -> None:
    """Serve the web desk, run the timer worker and start every configured platform."""
    import uvicorn

    from conduct_desk.bootstrap import lease_listeners, start_deliverer, stop_deliverer
    from conduct_desk.web.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with friendly_errors():
        a = _app()
        web = create_app(a)
        print_setup_link(a, host, port)  # when no admin exists yet
    stop = threading.Event()
    name = f"{socket.gethostname()}-{os.getpid()}"
    worker_thread = threading.Thread(
        target=worker_loop, args=(a, name, stop), kwargs={"batch": 100, "interval": interval},
        name="conduct-timers", daemon=True)
    # each listener runs under a lease: in this replica, or in the one that holds it
    leaseholder = lease_listeners(a)
    try:
        with friendly_errors():  # a refused token, or SQLite's listeners already running
            leaseholder.first_round()
        leaseholder.start()
        worker_thread.start()
        start_deliverer(a)  # the reporter is thanked after the answer, not before it
        uvicorn.run(web, host=host, port=port, log_level="info", access_log=False,
                    **uvicorn_proxy_options(a.settings))
    finally:
        stop.set()
        stop_deliverer(a)  # before the platforms stop: what it has, it tries first
        leaseholder.release()  # another replica takes the listeners over at once
        for adapter in a.adapters:
            try:
                adapter.stop()
            except Exception:
                logger.exception("stopping %s failed", type(adapter).__name__)
        if worker_thread.is_alive():
            worker_thread.join(timeout=10)


# -- web accounts ----------------------------------------------------------------------------


def print_setup_link(a: Any, host: str = "127.0.0.1", port: int = 8000) -> bool:
    """Print a fresh one-time link that makes the first admin in a browser, when the desk has
    no admin; False (nothing printed) when it has one. The link goes to standard output only,
    never to the log. Its address is CONDUCT_BASE_URL, else the one ``serve`` listens on."""
    from conduct_desk.service import invites

    raw = invites.new_setup_link(a.uow(), a.desk.clock)
    if raw is None:
        return False
    if host in ("", "0.0.0.0", "::"):  # every interface: this machine's own is one of them
        host = "127.0.0.1"
    local = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    url = invites.link(a.settings.base_url or local, InviteKind.SETUP, raw)
    hours = int(invites.SETUP_LIFETIME.total_seconds() // 3600)
    typer.echo(f"The desk has no admin yet. Open this link in a browser to become the first "
               f"admin (it works once, for {hours} hours):\n\n    {url}\n")
    return True


@app.command("setup-link")
def setup_link(
    host: Annotated[str, typer.Option(
        help="The address `conduct serve` listens on (CONDUCT_BASE_URL wins when set).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Its port.")] = 8000,
) -> None:
    """Print a fresh one-time link that makes the first admin in a browser (only while the
    desk has no admin)."""
    with friendly_errors():
        a = _app()
        if not print_setup_link(a, host, port):
            raise InvalidInput("the desk already has an admin; they can invite others from "
                               "Settings, or use `conduct admin add`")


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            return password_file.read_text("utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {password_file}: {unreadable(exc)}") from None
    if not sys.stdin.isatty():  # piped in (a script): one line; nothing there, say how
        piped = sys.stdin.readline().rstrip("\r\n")
        if not piped:
            raise InvalidInput("no password given: type it at a terminal, pipe it in, or put "
                               "it in a file readable by you only and give --password-file FILE")
        return piped
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@admin_app.command("add")
def admin_add(
    name: Annotated[str, typer.Argument(help="The name to sign in with, e.g. ana.")],
    role: Annotated[str, typer.Option(help="observer, moderator or admin")] = "moderator",
    identity: Annotated[list[str] | None, typer.Option(
        help="Their account on a platform, e.g. slack:U123 (repeat); used for recusal.")] = None,
    password_file: PasswordFile = None,
) -> None:
    """Make a web desk account (the password is stored as an argon2 hash)."""
    from conduct_desk.service import accounts

    with friendly_errors():
        a = _app()
        password = _read_password(password_file)
        account = accounts.add_admin(a.uow(), a.desk.clock, name, role, password,
                                     tuple(identity or ()))
    typer.echo(f"account {account.name} ({account.role}) added; sign in at "
               f"{a.settings.base_url or 'http://127.0.0.1:8000'}/signin")


def _change(change: Callable[[Any], object | None], done: str, unchanged: str) -> None:
    """Make one change to an account or a token; say what happened, or that nothing needed to.
    ``change`` gets the app and returns None when there was nothing to change."""
    with friendly_errors():
        changed = change(_app())
    typer.echo(done if changed is not None else unchanged)


@admin_app.command("list")
def admin_list(as_json: AsJson = False) -> None:
    """The web desk's accounts (never their password hashes)."""
    from conduct_desk.service import accounts

    with friendly_errors():
        a = _app()
        found = accounts.account_list(a.uow())
    if as_json:
        _print_json([{"name": acc.name, "role": acc.role, "identities": acc.identities,
                      "created_at": acc.created_at, "disabled": acc.disabled,
                      "email": acc.email, "email_kinds": sorted(acc.email_kinds)}
                     for acc in found])
        return
    if not found:
        typer.echo("no accounts yet; add one with `conduct admin add NAME --role admin`")
    for acc in found:
        ids = f" ({', '.join(acc.identities)})" if acc.identities else ""
        state = " disabled" if acc.disabled else ""
        mail = f" — emailed at {acc.email} about {accounts.email_summary(acc)}" \
            if acc.email else ""
        typer.echo(f"{acc.name:<20} {acc.role}{state}{ids}{mail}")


@admin_app.command("password")
def admin_password(name: AccountName, password_file: PasswordFile = None) -> None:
    """Set a new password for an account; its open sessions end."""
    from conduct_desk.service import accounts

    with friendly_errors():
        a = _app()
        account = accounts.find_admin(a.uow(), name)  # before asking for the password
        password = _read_password(password_file)
        accounts.set_password(a.uow(), a.desk.clock, account.name, password)
    typer.echo(f"account {account.name}: password changed; its open sessions have ended")


@admin_app.command("disable")
def admin_disable(name: AccountName) -> None:
    """Disable an account: it cannot sign in, and its open sessions end at their next request."""
    _set_disabled(name, True)


@admin_app.command("enable")
def admin_enable(name: AccountName) -> None:
    """Enable a disabled account again."""
    _set_disabled(name, False)


def _set_disabled(name: str, disabled: bool) -> None:
    from conduct_desk.service import accounts

    name = name.strip()
    state = "disabled" if disabled else "enabled"
    then = "it cannot sign in, and its open sessions have ended" if disabled \
        else "it can sign in again"
    _change(lambda a: accounts.set_disabled(a.uow(), a.desk.clock, name, disabled),
            f"account {name} {state}: {then}", f"account {name} was already {state}; nothing changed")


@admin_app.command("email")
def admin_email(
    name: AccountName,
    address: Annotated[str | None, typer.Option(
        help="Where the desk emails them, e.g. ana@example.org.")] = None,
    kind: Annotated[list[str] | None, typer.Option(
        help="What to email about (repeat): new-case, reminder, backup, appeal; "
             "default: all four.")] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop every email to them.")] = False,
) -> None:
    """Choose where and about what the desk emails an account while it is on duty (needs the
    CONDUCT_SMTP_* settings); each admin can change it on the desk's Email notices page."""
    from conduct_desk.domain.emails import EmailKind
    from conduct_desk.service import accounts

    with friendly_errors():
        if off and address is not None:
            raise InvalidInput("--address and --off go one at a time: --address ADDRESS to "
                               "send the emails there, or --off to stop them")
        if not off and address is None:
            raise InvalidInput("give --address ADDRESS, or --off to stop the emails")
        kinds = [EmailKind.parse(k) for k in kind] if kind else list(EmailKind)
        a = _app()
        changed = accounts.set_email(a.uow(), a.desk.clock, name.strip(), None if off else address,
                                     [] if off else kinds)
        account = accounts.find_admin(a.uow(), name)
    if off:
        done = f"account {account.name}: no more emails"
    else:
        done = (f"account {account.name}: emailed at {account.email} about "
                f"{accounts.email_summary(account)} while on duty")
        if a.desk.mailer is None:
            done += " (once CONDUCT_SMTP_HOST and the other CONDUCT_SMTP_* settings are set)"
    typer.echo(done if changed is not None else f"{done}; nothing changed")


@admin_app.command("role")
def admin_role(
    name: AccountName,
    role: Annotated[str, typer.Argument(help="observer, moderator or admin")],
) -> None:
    """Change an account's role; it applies from the account's next request."""
    from conduct_desk.service import accounts

    name, role = name.strip(), role.strip().lower()
    _change(lambda a: accounts.set_role(a.uow(), a.desk.clock, name, role),
            f"account {name} is now {role}",
            f"account {name} already is {role}; nothing changed")


@token_app.command("create")
def token_create(
    account: Annotated[str | None, typer.Option(
        help="The web account the token acts for: its name and platform identities "
             "(recusal, cases about them hidden), at most its role.")] = None,
    role: Annotated[str | None, typer.Option(
        help="observer, moderator or admin; at most the account's (default: the account's)")]
    = None,
    name: Annotated[str | None, typer.Option(help="What the token is for, e.g. ci-bot.")] = None,
) -> None:
    """Make an API token for an account; it is printed once and only its hash is stored."""
    from conduct_desk.service import accounts

    with friendly_errors():
        if account is None or not account.strip():
            raise InvalidInput("a token acts for a web account: add --account NAME (see "
                               "`conduct admin list`; make one with `conduct admin add`)")
        a = _app()
        raw = accounts.create_token(a.uow(), a.desk.clock,
                                    name or f"{account.strip()}-{secrets.token_hex(3)}", role,
                                    account=account)
    typer.echo(raw)
    typer.echo("Keep it safe: it is shown only this once. Send it as "
               "`Authorization: Bearer <token>`.", err=True)


@token_app.command("list")
def token_list(as_json: AsJson = False) -> None:
    """The API tokens: name, role, when made, whether revoked (never a token or its hash)."""
    from conduct_desk.service import accounts

    with friendly_errors():
        a = _app()
        found = accounts.token_list(a.uow())
        owners = {acc.id: acc.name for acc in accounts.account_list(a.uow())}
    if as_json:
        _print_json([{"name": t.name, "role": t.role, "account": owners.get(t.account_id),
                      "created_at": t.created_at, "revoked": t.revoked} for t in found])
        return
    if not found:
        typer.echo("no API tokens yet; make one with `conduct token create --account NAME`")
    for t in found:
        state = " revoked" if t.revoked else ""
        owner = owners.get(t.account_id) or "(role only)"
        typer.echo(f"{t.name:<20} {t.role:<9} {owner:<20} "
                   f"created {t.created_at:%Y-%m-%d %H:%M}{state}")


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name; see `conduct token list`.")],
) -> None:
    """Revoke an API token: the API refuses it (401) from now on."""
    from conduct_desk.service import accounts

    name = name.strip()
    _change(lambda a: accounts.revoke_token(a.uow(), a.desk.clock, name),
            f"token {name} revoked; the API refuses it from now on",
            f"token {name} was already revoked; nothing changed")


@app.command()
def demo(
    pause: Annotated[float, typer.Option(help="Seconds between scenes (0 for none).")] = 0.0,
) -> None:
    """Walk one story through every rung of the guide's ladder, on a throwaway database."""
    from conduct_desk.demo import run_demo

    with friendly_errors():
        run_demo(typer.echo, pause=pause)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
