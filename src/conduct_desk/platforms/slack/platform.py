"""Slack's :class:`Platform` port: the steps, over ``slack_sdk.WebClient``, with SCIM for
suspending and banning where the workspace has it, manual tasks where it does not.

Slack's automatic retries are off: a refused call becomes a failed step that the desk's own
durable timer tries again, so nothing is dropped when Slack rate limits.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from conduct_desk.domain.model import StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.platforms.slack import blocks as kit
from conduct_desk.platforms.slack.settings import SlackSettings
from conduct_desk.service.lookup import name_matches
from conduct_desk.service.ports import Candidate, Capability, Effect, FetchedMessage

try:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra only
    MISSING: ModuleNotFoundError | None = exc
else:
    MISSING = None

if TYPE_CHECKING:
    from conduct_desk.service.chat.desk import DeskApp

logger = logging.getLogger(__name__)

SLACK = "slack"
CARD_PREFIX = "slack:card:"  # cursor f"{CARD_PREFIX}{case_id}": the ts of the case's card
_CASE_IN_TEXT = re.compile(r"\b[Cc]ase (\d+)\b")
MEMBERS_KEPT = timedelta(minutes=2)  # users.list is read at most this often for look-ups
MEMBER_PAGES = 50  # users.list pages of 200: look-ups cover workspaces of 10,000 people
NOTICE_EVENT = "conduct_desk_notice"  # the metadata event_type of a message from the outbox
LOOK_BACK = 1000  # messages read back for an earlier try of one (a notice's second try)


# -- errors ------------------------------------------------------------------------------------

_RETRYABLE = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                        "request_timeout", "team_added_to_org"})


def slack_effect(exc: SlackApiError, what: str) -> Effect:
    """Slack's refusal as a failed effect, in words that say what to do."""
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {exc.response.status_code}")
    if exc.response.status_code == 429 or error == "ratelimited":
        wait = retry_after(exc.response.headers)
        return Effect.failed(f"Slack is rate limiting {what} (ratelimited); the desk tries again "
                             f"after {wait.total_seconds():.0f}s", retry_after=wait)
    hints = {
        "missing_scope": f"the app lacks the scope {data.get('needed') or '?'}; add it under "
                         "OAuth & Permissions (or re-create the app from the manifest), reinstall "
                         "it, then retry the step",
        "not_in_channel": "the person or the app is not in that channel; invite the app with "
                          "/invite, or check the channel, then retry the step",
        "cant_kick_self": "Slack does not let the app remove itself; this step targets the app's "
                          "own account",
        "user_not_found": "Slack does not know that user (left the workspace, or another "
                          "workspace's id); check the case's subject",
        "channel_not_found": "the channel is gone or private to the app; invite the app to it",
        "restricted_action": "the workspace settings forbid this for apps; an owner can allow it "
                             "or do it by hand",
        "cant_kick_from_general": "Slack never removes anyone from the workspace's general "
                                  "channel; choose another step",
        "invalid_auth": "the bot token was refused; check CONDUCT_SLACK_BOT_TOKEN",
        "account_inactive": "the bot token belongs to a removed app; reinstall it",
        "user_disabled": "that account is deactivated, so it cannot get messages",
    }
    hint = hints.get(error, "Slack refused")
    return Effect.failed(f"{what}: Slack answered {error} — {hint}", retryable=error in _RETRYABLE
                         or exc.response.status_code >= 500)


def retry_after(headers: Mapping[str, Any]) -> timedelta:
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        return timedelta(seconds=max(1, int(str(raw))))
    except (TypeError, ValueError):
        return timedelta(seconds=30)


# -- the Platform port -------------------------------------------------------------------------


class ScimClient:
    """Slack's SCIM API (v2), just enough to deactivate and reactivate an account."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})

    def set_active(self, user_id: str, active: bool, what: str) -> Effect:
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": active}]}
        try:
            response = self._http.patch(f"Users/{user_id}", json=body)
        except httpx.HTTPError as exc:
            return Effect.failed(f"{what}: could not reach Slack's SCIM API ({type(exc).__name__})")
        if response.status_code < 300:
            return Effect.done(f"{what}: done through SCIM")
        try:
            described = response.json().get("Errors", {}).get("description", "")
        except ValueError:
            described = ""
        error = described or f"HTTP {response.status_code}"
        if response.status_code == 429:
            wait = retry_after(response.headers)
            return Effect.failed(f"Slack's SCIM API is rate limiting {what}; the desk tries again "
                                 f"after {wait.total_seconds():.0f}s", retry_after=wait)
        hint = {401: "the SCIM token was refused; check CONDUCT_SLACK_SCIM_TOKEN (a user token "
                     "with the admin scope)",
                403: "SCIM is not available: it needs a Business+ or Enterprise plan and an owner's "
                     "token; without it, leave CONDUCT_SLACK_SCIM_TOKEN unset and the desk gives "
                     "manual instructions",
                404: "Slack does not know that user (user_not_found)"}.get(response.status_code,
                                                                         "Slack refused")
        return Effect.failed(f"{what}: SCIM answered {error} — {hint}",
                             retryable=response.status_code >= 500)

    def is_active(self, user_id: str) -> bool | None:
        """Whether the account is active now; None when SCIM does not say."""
        try:
            response = self._http.get(f"Users/{user_id}")
            active = response.json().get("active") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return active if isinstance(active, bool) else None

    def close(self) -> None:
        self._http.close()


class SlackPlatform:
    """The desk's :class:`Platform` on a Slack workspace."""

    name = SLACK
    confirm_hint = "Once you have, please press the button below."

    def __init__(self, client: WebClient, settings: SlackSettings, scim: ScimClient | None,
                 app: DeskApp) -> None:
        self.client = client
        self.settings = settings
        self.scim = scim
        self.app = app
        base = {Capability.REPLY, Capability.DM, Capability.REMOVE, Capability.FETCH,
                Capability.NOTIFY_ADMINS, Capability.FIND_PEOPLE}
        if scim is not None:
            base |= {Capability.SUSPEND, Capability.RESTORE, Capability.BAN}
        self.capabilities: frozenset[Capability] = frozenset(base)
        self._members: tuple[datetime, list[Candidate]] | None = None
        self._members_lock = threading.Lock()
        self._other_names: dict[PersonRef, tuple[str, ...]] = {}  # user names, matched too

    def _call(self, what: str, call: Callable[[], Any]) -> Effect | Any:
        try:
            return call()
        except SlackApiError as exc:
            return slack_effect(exc, what)
        except OSError as exc:  # urllib's URLError, timeouts: worth another try
            return Effect.failed(f"{what}: could not reach Slack ({type(exc).__name__})")

    def post_reply(self, channel: str, message_id: str | None, text: str) -> Effect:
        result = self._call("replying in the thread", lambda: self.client.chat_postMessage(
            channel=channel, thread_ts=message_id, text=text, unfurl_links=False))
        return result if isinstance(result, Effect) else Effect.done(f"replied in <#{channel}>")

    def send_dm(self, person: PersonRef, text: str, key: str | None = None,
                again: bool = False) -> Effect:
        warned = self._warning_case(person, text)
        return self.dm_user(person.user_id, text,
                            kit.warning_blocks(text, warned) if warned is not None else None,
                            key=key, again=again)

    def dm_user(self, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None, *,
                key: str | None = None, again: bool = False) -> Effect:
        """A direct message to one Slack user (``blocks``: drawn with Block Kit; ``key`` and
        ``again`` as :meth:`notify_admins` says)."""
        opened = self._call("opening a direct message",
                            lambda: self.client.conversations_open(users=user_id))
        if isinstance(opened, Effect):
            return opened
        channel = opened["channel"]["id"]
        done = Effect.done(f"sent privately to <@{user_id}>")
        if key is not None and again:
            posted = self._posted(channel, None, key)
            if posted is not False:
                return done if posted is True else posted
        sent = self._call("sending a direct message", lambda: self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, unfurl_links=False,
            metadata=notice_metadata(key)))
        return sent if isinstance(sent, Effect) else done

    def _posted(self, channel: str, thread: str | None, key: str) -> bool | Effect:
        """Whether a message of the desk's carrying ``key`` is in ``channel`` (under
        ``thread``) already: Slack has no idempotency key, so the message carries it as its
        metadata and a try that may repeat an earlier one looks first, over the latest
        messages (:data:`LOOK_BACK`). An Effect when Slack cannot say now (try later)."""
        what = "looking for an earlier try of the message"
        seen = 0
        cursor = None
        while seen < LOOK_BACK:
            args: dict[str, Any] = {"channel": channel, "include_all_metadata": True,
                                    "limit": 200}
            if cursor:
                args["cursor"] = cursor
            page = self._call(what, functools.partial(
                self.client.conversations_replies, ts=thread, **args) if thread
                else functools.partial(self.client.conversations_history, **args))
            if isinstance(page, Effect):  # refused for good (a scope): post, as before
                return page if page.retryable else False
            messages = page.get("messages") or []
            if any((m.get("metadata") or {}).get("event_type") == NOTICE_EVENT
                   and ((m["metadata"].get("event_payload") or {}).get("key") == key)
                   for m in messages):
                return True
            seen += len(messages)
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor or not messages:
                return False
        return False

    def _warning_case(self, person: PersonRef, text: str) -> int | None:
        """The case whose pending warning this text is, so the DM carries the re-read button."""
        with self.app.uow() as uow:
            for case_id in sorted(uow.cases.case_ids_for(person), reverse=True)[:5]:
                case = uow.cases.get(case_id)
                if any(s.action is Action.WARN and s.text == text
                       and s.status in (StepStatus.PENDING, StepStatus.FAILED) for s in case.steps):
                    return case_id
        return None

    def remove_from_channel(self, person: PersonRef, channel: str) -> Effect:
        result = self._call(f"removing <@{person.user_id}> from <#{channel}>",
                            lambda: self.client.conversations_kick(channel=channel,
                                                                   user=person.user_id))
        return result if isinstance(result, Effect) else Effect.done(
            f"removed <@{person.user_id}> from <#{channel}>")

    def suspend(self, person: PersonRef, until: datetime) -> Effect:
        if self.scim is None:
            return Effect.manual(self.manual_instructions(Action.SUSPEND, person, None, until))
        return self.scim.set_active(person.user_id, False,
                                    f"deactivating <@{person.user_id}> until {until:%Y-%m-%d %H:%M} UTC")

    def restore(self, person: PersonRef) -> Effect:
        if self.scim is None:
            return Effect.manual(self.manual_instructions(Action.RESTORE, person, None, None))
        return self.scim.set_active(person.user_id, True, f"reactivating <@{person.user_id}>")

    def account_restored(self, person: PersonRef) -> bool | None:
        """Whether the account is active again (asked before a second restore); None: unknown."""
        return self.scim.is_active(person.user_id) if self.scim is not None else None

    def ban(self, person: PersonRef) -> Effect:
        if self.scim is None:
            return Effect.manual(self.manual_instructions(Action.BAN, person, None, None))
        return self.scim.set_active(person.user_id, False,
                                    f"deactivating <@{person.user_id}> for good")

    def fetch_message(self, channel: str, message_id: str) -> FetchedMessage | None:
        """The message as it is now (top level or in a thread), with its permalink."""
        try:
            found = self.client.conversations_history(channel=channel, latest=message_id,
                                                      inclusive=True, limit=1)["messages"]
            message = next((m for m in found if m.get("ts") == message_id), None)
            if message is None:
                thread = self.client.conversations_replies(channel=channel, ts=message_id,
                                                           limit=200)["messages"]
                message = next((m for m in thread if m.get("ts") == message_id), None)
            if message is None:
                return None
            link = self.client.chat_getPermalink(channel=channel, message_ts=message_id)
        except (SlackApiError, OSError) as exc:
            logger.warning("could not fetch message %s in %s: %s", message_id, channel,
                           error_name(exc))
            return None
        author = PersonRef(SLACK, message["user"]) if message.get("user") else None
        return FetchedMessage(channel, message_id, str(message.get("text") or ""), author,
                              link.get("permalink"))

    def known_names(self, person: PersonRef) -> tuple[str, ...]:
        """The person's Slack user name, real name and display name (users.info)."""
        try:
            user = self.client.users_info(user=person.user_id)["user"]
        except (SlackApiError, OSError) as exc:
            logger.warning("could not read a person's names: %s", error_name(exc))
            return ()
        profile = user.get("profile") or {}
        found = (user.get("name"), user.get("real_name"), profile.get("display_name"),
                 profile.get("real_name"))
        return tuple(str(n) for n in found if n)

    def find_people(self, query: str, limit: int) -> list[Candidate] | Effect:
        """Members whose display name, real name or user name holds ``query``. Slack has no
        search by name, so users.list is read (kept for :data:`MEMBERS_KEPT`)."""
        members = self._workspace_members()
        if isinstance(members, Effect):
            return members
        return [c for c in members if name_matches(query, c.display_name, c.handle,
                                                   *self._other_names.get(c.person, ()))][:limit]

    def _workspace_members(self) -> list[Candidate] | Effect:
        now = self.app.desk.clock.now()
        with self._members_lock:
            if self._members is not None and now - self._members[0] < MEMBERS_KEPT:
                return self._members[1]
            found: list[Candidate] = []
            names: dict[PersonRef, tuple[str, ...]] = {}
            cursor = ""
            for _ in range(MEMBER_PAGES):
                page = self._call("looking people up", functools.partial(
                    self.client.users_list, limit=200, cursor=cursor or None))
                if isinstance(page, Effect):
                    return page
                for user in page.get("members") or []:
                    if user.get("deleted") or user.get("is_bot") or user.get("id") == "USLACKBOT":
                        continue
                    profile = user.get("profile") or {}
                    shown = str(profile.get("display_name") or user.get("name") or "")
                    real = str(profile.get("real_name") or user.get("real_name") or shown)
                    person = PersonRef(SLACK, str(user["id"]))
                    found.append(Candidate(person, real or shown, f"@{shown}",
                                           also=(str(user.get("name") or ""), real, shown)))
                    names[person] = (str(user.get("name") or ""),)
                cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
                if not cursor:
                    break
            self._members, self._other_names = (now, found), names
            return found

    def notify_admins(self, text: str, key: str | None = None,
                      again: bool = False) -> Effect:
        """Post to the admin channel; about a case, in the thread under its card. The message
        carries ``key`` (a notice's) as its metadata; ``again`` (an earlier try may have been
        posted), it is looked for first and not posted twice."""
        channel = self.settings.admin_channel or ""
        thread = None
        match = _CASE_IN_TEXT.search(text)
        if match:
            with self.app.uow() as uow:
                thread = uow.cursors.get(card_key(int(match.group(1))))
        done = Effect.done("admins told in Slack")
        if key is not None and again:
            posted = self._posted(channel, thread, key)
            if posted is not False:
                return done if posted is True else posted
        result = self._call("telling the admins", lambda: self.client.chat_postMessage(
            channel=channel, text=text, thread_ts=thread, reply_broadcast=bool(thread),
            metadata=notice_metadata(key)))
        return result if isinstance(result, Effect) else done

    def manual_instructions(self, action: Action, person: PersonRef, channel: str | None,
                            until: datetime | None) -> str:
        """Exact steps for a workspace admin when the app cannot act itself."""
        user = f"<@{person.user_id}> (user id {person.user_id})"
        members = ("In Slack, open the workspace menu → Tools & settings → Manage members, "
                   f"search for {user}")
        done = " Then press *Mark done* on the case card (or `/coc done CASE STEP`)."
        nothing = ("The app cannot do this itself because SCIM is not set up "
                   "(CONDUCT_SLACK_SCIM_TOKEN; Business+ plans).")
        if action is Action.SUSPEND:
            when = f"{until:%A %d %B %Y, %H:%M} UTC" if until else "the end of the suspension"
            return (f"{nothing} {members}, open ⋯ and choose *Deactivate account*. Reactivate it "
                    f"on {when}; the desk will remind you then.{done}")
        if action is Action.BAN:
            return (f"{nothing} {members}, open ⋯ and choose *Deactivate account*. Do not "
                    f"reactivate it: this is a ban.{done}")
        if action is Action.RESTORE:
            return (f"{nothing} {members} (filter: Deactivated), open ⋯ and choose *Activate "
                    f"account*. The suspension is over.{done}")
        if action is Action.REMOVE:
            where = f"<#{channel}>" if channel else "the channel"
            return f"In {where}, type `/remove @{person.user_id}`.{done}"
        return f"Send {user} the step's text yourself, privately or in the thread.{done}"


def web_client(token: str, settings: SlackSettings) -> WebClient:
    """The Web API client: no automatic retries (a refused call is a failed step the desk's
    durable timer tries again)."""
    return WebClient(token=token, base_url=settings.api_url, retry_handlers=[],
                     timeout=round(settings.timeout))


def error_name(exc: Exception) -> str:
    if isinstance(exc, SlackApiError) and isinstance(exc.response.data, dict):
        return str(exc.response.data.get("error"))
    return type(exc).__name__


def notice_metadata(key: str | None) -> dict[str, Any] | None:
    """What a notice's message carries, for a later try to find it (:meth:`SlackPlatform._posted`)."""
    return {"event_type": NOTICE_EVENT, "event_payload": {"key": key}} if key else None


def card_key(case_id: int) -> str:
    return f"{CARD_PREFIX}{case_id}"
