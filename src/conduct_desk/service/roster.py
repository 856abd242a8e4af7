"""Who the desk knows as an admin: the active web accounts, the admins configured for each
chat platform, and the API tokens. Every command names its admin; the handlers ask here, so
no entry point can record a name that is nobody (``--admin nobody``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from conduct_desk.domain.accounts import Account, Role, name_key
from conduct_desk.domain.errors import DeskError, InvalidInput
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.ports import UnitOfWork

TOKEN_PREFIX = "token:"  # the name an API token acts under (web/deps.py)
MAX_LISTED = 20


class UnknownAdmin(InvalidInput):
    """A command named an admin the desk does not know, or one who may not act."""


@dataclass(frozen=True)
class PlatformAdmin:
    """An admin configured for a chat platform (CONDUCT_SLACK_ADMINS, CONDUCT_MATRIX_ADMINS):
    ``name`` is what cases record (``slack:U123``, or ``ana`` on Matrix), ``aliases`` their
    platform ids (they count for recusal)."""

    name: str
    role: Role
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnownAdmin:
    name: str
    role: Role
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def named(everyone: list[Account], name: str) -> Account | None:
    """The account called ``name`` in any spelling (case, spaces, NFKC variants)."""
    key = name_key(name)
    return next((a for a in everyone if name_key(a.name) == key), None)


def known_admins(accounts: list[Account], platform_admins: Mapping[str, PlatformAdmin], *,
                 disabled_too: bool = False) -> list[KnownAdmin]:
    """Every admin who may be named: active accounts (and disabled ones, with
    ``disabled_too``), then configured platform admins."""
    known = [KnownAdmin(a.name, a.role, a.identities) for a in accounts
             if disabled_too or not a.disabled]
    taken = {name_key(k.name) for k in known}
    known += [KnownAdmin(p.name, p.role, p.aliases) for p in platform_admins.values()
              if name_key(p.name) not in taken]
    return known


def everyone(uow: UnitOfWork, platform_admins: Mapping[str, PlatformAdmin]) -> list[KnownAdmin]:
    """:func:`known_admins` from storage, each with the accounts linked to theirs (a linked
    account of an admin is theirs: it counts for recusal); call inside a unit of work."""
    return with_links(uow, known_admins(uow.accounts.admins(), platform_admins))


def accounts_of(admin: KnownAdmin) -> list[PersonRef]:
    """The admin's accounts a person link can name: platform ids, and their web name."""
    refs = [PersonRef("web", admin.name)]
    for name in admin.names:
        try:
            ref = PersonRef.parse(name, "")
        except DeskError:
            continue
        if ref.platform:
            refs.append(ref)
    return refs


def linked_names(uow: UnitOfWork, name: str, aliases: tuple[str, ...] = (),
                 known: Sequence[KnownAdmin] = ()) -> tuple[str, ...]:
    """A viewer's names (``name``, ``aliases``) and every account linked to one of them.
    ``known``: the admins already read (:func:`everyone`, with their links): when the
    viewer is among them with no alias they lack, nothing more is read."""
    mine = next((a for a in known if a.name == name), None)
    if mine is not None and set(aliases) <= set(mine.aliases):
        return (name, *(n for n in mine.names if n != name))
    return with_links(uow, [KnownAdmin(name, Role.OBSERVER, aliases)])[0].names


def with_links(uow: UnitOfWork, admins: list[KnownAdmin]) -> list[KnownAdmin]:
    """The admins, their aliases grown by every account linked to one of theirs."""
    linked = uow.people.linked_many(ref for a in admins for ref in accounts_of(a))
    grown = []
    for a in admins:
        extra = [r.key for ref in accounts_of(a) for r in linked.get(ref, ())[1:]]
        grown.append(replace(a, aliases=tuple(dict.fromkeys((*a.aliases, *extra))))
                     if extra else a)
    return grown


def identify(uow: UnitOfWork, platform_admins: Mapping[str, PlatformAdmin], name: str,
             flag: str = "--admin") -> KnownAdmin:
    """The admin called ``name`` (in any spelling), or :class:`UnknownAdmin` listing who is
    known. Call inside a unit of work. An API token acts as ``token:NAME``."""
    if name.startswith(TOKEN_PREFIX):
        token = uow.accounts.token_by_name(name.removeprefix(TOKEN_PREFIX))
        if token is not None and not token.revoked:
            return KnownAdmin(name, token.role, (token.name,))
    known = everyone(uow, platform_admins)
    key = name_key(name)
    for admin in known:  # names first: an account's platform id is also a platform admin
        if name_key(admin.name) == key:
            return admin
    for admin in known:
        if key in (name_key(n) for n in admin.aliases):
            return admin
    off = named([a for a in uow.accounts.admins() if a.disabled], name)
    if off is not None:
        raise UnknownAdmin(f"{off.name}'s account is disabled ({flag}); an admin can enable it "
                           f"with `conduct admin enable {off.name}`",
                           problem=f"{off.name}'s account is disabled; an admin can enable it "
                                   "in Settings", field=flag.lstrip("-"))
    listed = ", ".join(k.name for k in known[:MAX_LISTED]) or "nobody yet"
    more = f" and {len(known) - MAX_LISTED} more" if len(known) > MAX_LISTED else ""
    raise UnknownAdmin(f"unknown admin {name.strip()!r} ({flag}); known: {listed}{more} — add "
                       "one with `conduct admin add NAME --role moderator`",
                       problem=f"{name.strip()!r} is not one of the desk's admins; known: "
                               f"{listed}{more}", field=flag.lstrip("-"))


def acting(uow: UnitOfWork, platform_admins: Mapping[str, PlatformAdmin], name: str,
           flag: str = "--admin") -> KnownAdmin:
    """Like :func:`identify`, for an admin who changes a case: observers may not."""
    admin = identify(uow, platform_admins, name, flag)
    if not admin.role.may_act:
        raise UnknownAdmin(f"{admin.name} has the observer role: they can read cases but not "
                           "act on them; an admin can give them the moderator role")
    return admin
