"""Errors a user can cause. Each message names the problem and the fix, in one line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hint:
    """The command that fixes a problem, for each entry point to write in its own words:
    ``verb`` as in the chat command table (``recuse``, ``reopen``, ``consult``, ``show``…)."""

    verb: str
    case_id: int | None = None
    step_id: int | None = None


class DeskError(Exception):
    """Base class: a problem the person at the keyboard can fix; nothing was recorded.

    ``str(error)`` is the whole sentence in the command line's words; ``problem`` is the
    problem alone and ``hint`` the fix as a structured command, so a chat, a form or the
    command line each say the fix in their own words. ``field``, when set, names the input
    to change as the service sees it (``reason``, ``duration``, ``admin``…): a form points at
    its field, the API returns it, the command line says its flag."""

    exit_code = 2

    def __init__(self, message: str = "", *, hint: Hint | None = None,
                 problem: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.problem = problem if problem is not None else message
        self.field = field


class NotFound(DeskError):
    """An unknown case, person, step or file."""


class InvalidInput(DeskError):
    """A malformed value: a duration, an outcome, an over-long text."""


class IllegalTransition(DeskError):
    """The case is not in a state that allows what was asked."""


class Forbidden(DeskError):
    """The admin's role does not allow this (a moderator deciding an appeal against a ban)."""


class Recused(DeskError):
    """The admin is involved in the case (subject, reporter or confirmed hurt) and must step
    aside. ``holds_case``: the case id when they hold it, so the page can offer to step aside."""

    def __init__(self, message: str, holds_case: int | None = None, *,
                 hint: Hint | None = None, problem: str | None = None) -> None:
        super().__init__(message, hint=hint, problem=problem)
        self.holds_case = holds_case


class ConsultationNeeded(DeskError):
    """The policy wants the hurt consulted before a ban."""


class InvalidPolicy(DeskError):
    """A policy file that does not validate; the message names the field."""


class ConfidentialityError(DeskError):
    """A text meant for the subject would reveal who reported.

    ``field`` says what to change, for each entry point to name in its own words: "text"
    (the admin's own text), "suggestion", or a policy text ("ladder.warn", "texts.restore").
    ``matched`` is the name that was found: for the admin only, never for the subject."""

    def __init__(self, message: str, *, field: str = "text", matched: str = "",
                 hint: Hint | None = None, problem: str | None = None) -> None:
        super().__init__(message, hint=hint, problem=problem, field=field)
        self.field: str = field
        self.matched = matched


class NotMigrated(DeskError):
    """The database schema is older than the code."""


class Conflict(DeskError):
    """Someone else changed the same thing at the same moment; trying again resolves it."""


class AlreadyFiled(DeskError):
    """A platform's report delivered again (a poll resumed, another replica): it is on file
    already, nothing more to do."""


class SecretKeyError(DeskError):
    """The key that seals anonymous reporters' ids is missing, malformed or not the one used."""


class StorageUnavailable(DeskError):
    """The database cannot take the change now: unreachable (restarting), its disk full or its
    file read-only. What the transaction held was rolled back whole; the message says what to do.
    ``transient``: trying again in a moment may work (a database restarting)."""

    def __init__(self, message: str, *, problem: str | None = None,
                 transient: bool = False) -> None:
        super().__init__(message, problem=problem)
        self.transient = transient


def unreadable(exc: OSError | UnicodeDecodeError) -> str:
    """Why a file could not be read, in a few words: the system's reason, or that it is not
    text (a binary file, or another encoding than UTF-8)."""
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return exc.strerror or str(exc)
