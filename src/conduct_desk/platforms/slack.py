"""Slack: the desk as a Slack app on Bolt for Python (the ``slack`` extra).

Three parts, one file (the only one importing ``slack_bolt``/``slack_sdk``):

* :class:`SlackPlatform` — the :class:`Platform` port over ``slack_sdk.WebClient``, with SCIM
  for suspending and banning where the workspace has it, manual tasks where it does not.
  Slack's automatic retries are off: a refused call becomes a failed step that the desk's
  own durable timer tries again, so nothing is dropped when Slack rate limits.
* :class:`SlackAdapter` — the Bolt app: intake (message shortcut, reaction, DM, ``/coc``),
  the peer nudge, the admin channel's case cards and buttons, in Socket Mode or over HTTP.
  Entry points only parse Slack's payloads into commands for the bus.
* :func:`configure` — builds both from ``CONDUCT_SLACK_*`` settings (:class:`SlackSettings`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduct_desk.domain import events
from conduct_desk.domain.accounts import Role
from conduct_desk.domain.durations import format_duration, humanize_span
from conduct_desk.domain.errors import ConsultationNeeded, DeskError, InvalidInput, Recused
from conduct_desk.domain.model import Case, Source, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.platforms import slack_blocks as kit
from conduct_desk.platforms.quiet import quiet_libraries
from conduct_desk.service import commands, handlers, views
from conduct_desk.service.chat.later import CARD_ATTEMPTS, Later
from conduct_desk.service.handlers import Desk
from conduct_desk.service.messagebus import MessageBus
from conduct_desk.service.nudges import says_enough
from conduct_desk.service.ports import Capability, Effect, FetchedMessage, UnitOfWork
from conduct_desk.service.roster import PlatformAdmin

try:
    from slack_bolt import App as BoltApp
    from slack_bolt import BoltRequest
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError
    from slack_sdk.signature import SignatureVerifier
    from slack_sdk.socket_mode.request import SocketModeRequest
    from slack_sdk.socket_mode.response import SocketModeResponse
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra only
    _MISSING: ModuleNotFoundError | None = exc
else:
    _MISSING = None

logger = logging.getLogger(__name__)

SLACK = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_SCIM_URL = "https://api.slack.com/scim/v2/"
WATCH_KEY = "slack:nudges"  # the messages under a nudge, for the cheap event filter
WATCH_TTL = 5.0  # seconds a worker trusts its copy of the watch list
MAX_BODY = 1 << 20  # bytes: Slack's payloads are far smaller; larger bodies are refused unread
READ_TIMEOUT = 10.0  # seconds the HTTP listener waits for a request's bytes
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_PERMALINK = re.compile(r"/archives/([CGD][A-Z0-9]+)/p(\d{10})(\d{6})")
_CASE_IN_TEXT = re.compile(r"\b[Cc]ase (\d+)\b")
_IGNORED_SUBTYPES = frozenset({"channel_join", "channel_leave", "bot_message", "channel_topic",
                               "channel_purpose", "channel_name", "pinned_item", "unpinned_item",
                               "ekm_access_denied", "me_message", "reminder_add"})


class SlackSettings(BaseSettings):
    """``CONDUCT_SLACK_*``. Each secret may instead come from a file: ``..._FILE``."""

    model_config = SettingsConfigDict(env_prefix="CONDUCT_SLACK_", extra="ignore")

    bot_token: SecretStr | None = None
    bot_token_file: Path | None = None
    signing_secret: SecretStr | None = None
    signing_secret_file: Path | None = None
    app_token: SecretStr | None = None  # xapp-…: Socket Mode; without it, HTTP mode
    app_token_file: Path | None = None
    scim_token: SecretStr | None = None  # a user token with the admin scope (Business+ plans)
    scim_token_file: Path | None = None
    admin_channel: str | None = None  # channel id, e.g. C0123ADMINS
    report_emoji: str = "triangular_flag_on_post"
    admins: str = ""  # "U123:admin,U456:moderator,U789:observer"
    api_url: str = DEFAULT_API_URL
    scim_url: str = DEFAULT_SCIM_URL
    http_host: str = "127.0.0.1"
    http_port: int = 3000
    http_path: str = "/slack/events"
    process_before_response: bool = False  # True: answer Slack after the work (tests, FaaS)

    def secret(self, name: str) -> str | None:
        """The secret ``name`` from its variable or, failing that, its ``_FILE``."""
        value: SecretStr | None = getattr(self, name)
        if value is not None and value.get_secret_value().strip():
            return value.get_secret_value().strip()
        path: Path | None = getattr(self, f"{name}_file")
        if path is None:
            return None
        try:
            return path.read_text("utf-8").strip() or None
        except OSError as exc:
            raise InvalidInput(f"CONDUCT_SLACK_{name.upper()}_FILE: cannot read {path} "
                               f"({exc.strerror}); fix the path or set the variable itself") from None

    @property
    def configured(self) -> bool:
        return any((self.bot_token, self.bot_token_file, self.signing_secret,
                    self.signing_secret_file, self.app_token, self.app_token_file))

    def roles(self) -> dict[str, Role]:
        roles: dict[str, Role] = {}
        for item in filter(None, (p.strip() for p in re.split(r"[,\s]+", self.admins))):
            user, sep, role = item.partition(":") if ":" in item else item.partition("=")
            try:
                roles[user.strip()] = Role(role.strip().lower() if sep else "moderator")
            except ValueError:
                raise InvalidInput(f"CONDUCT_SLACK_ADMINS: {item!r} has role {role!r}; use "
                                   "USERID:admin, USERID:moderator or USERID:observer") from None
        return roles


class DeskApp(Protocol):
    """What the adapter needs from the wired app (``bootstrap.App``)."""

    desk: Desk
    bus: MessageBus

    def uow(self) -> UnitOfWork: ...


# -- errors ------------------------------------------------------------------------------------

EVENT_PREFIX = "slack:event:"
EVENT_MEMORY = timedelta(days=1)  # how long an event id is remembered against redelivery
MEMBERS_TTL = 60.0  # seconds the admin channel's member list is trusted before asking again
_RETRYABLE = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                        "request_timeout", "team_added_to_org"})


def slack_effect(exc: SlackApiError, what: str) -> Effect:
    """Slack's refusal as a failed effect, in words that say what to do."""
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {exc.response.status_code}")
    if exc.response.status_code == 429 or error == "ratelimited":
        wait = _retry_after(exc.response.headers)
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


def _retry_after(headers: Mapping[str, Any]) -> timedelta:
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
            wait = _retry_after(response.headers)
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
                Capability.NOTIFY_ADMINS}
        if scim is not None:
            base |= {Capability.SUSPEND, Capability.RESTORE, Capability.BAN}
        self.capabilities: frozenset[Capability] = frozenset(base)

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

    def send_dm(self, person: PersonRef, text: str) -> Effect:
        warned = self._warning_case(person, text)
        return self._dm(person.user_id, text,
                        kit.warning_blocks(text, warned) if warned is not None else None)

    def _dm(self, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> Effect:
        opened = self._call("opening a direct message",
                            lambda: self.client.conversations_open(users=user_id))
        if isinstance(opened, Effect):
            return opened
        channel = opened["channel"]["id"]
        sent = self._call("sending a direct message", lambda: self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, unfurl_links=False))
        return sent if isinstance(sent, Effect) else Effect.done(f"sent privately to <@{user_id}>")

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
                           _error_name(exc))
            return None
        author = PersonRef(SLACK, message["user"]) if message.get("user") else None
        return FetchedMessage(channel, message_id, str(message.get("text") or ""), author,
                              link.get("permalink"))

    def known_names(self, person: PersonRef) -> tuple[str, ...]:
        """The person's Slack user name, real name and display name (users.info)."""
        try:
            user = self.client.users_info(user=person.user_id)["user"]
        except (SlackApiError, OSError) as exc:
            logger.warning("could not read a person's names: %s", _error_name(exc))
            return ()
        profile = user.get("profile") or {}
        found = (user.get("name"), user.get("real_name"), profile.get("display_name"),
                 profile.get("real_name"))
        return tuple(str(n) for n in found if n)

    def notify_admins(self, text: str) -> Effect:
        """Post to the admin channel; about a case, in the thread under its card."""
        channel = self.settings.admin_channel or ""
        thread = None
        match = _CASE_IN_TEXT.search(text)
        if match:
            with self.app.uow() as uow:
                thread = uow.cursors.get(card_key(int(match.group(1))))
        result = self._call("telling the admins", lambda: self.client.chat_postMessage(
            channel=channel, text=text, thread_ts=thread, reply_broadcast=bool(thread)))
        return result if isinstance(result, Effect) else Effect.done("admins told in Slack")

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


def _error_name(exc: Exception) -> str:
    if isinstance(exc, SlackApiError) and isinstance(exc.response.data, dict):
        return str(exc.response.data.get("error"))
    return type(exc).__name__


def card_key(case_id: int) -> str:
    return f"slack:card:{case_id}"


# -- the app -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    channel: str
    ts: str
    subject: str
    due_at: datetime


class SlackAdapter:
    """The Slack app: Bolt listeners that turn Slack's payloads into the desk's commands."""

    def __init__(self, app: DeskApp, settings: SlackSettings, *, bot_token: str,
                 signing_secret: str | None, app_token: str | None, scim_token: str | None) -> None:
        self.app = app
        self.settings = settings
        self.roles = settings.roles()
        # the desk knows these admins (for --admin, hand-over and the backup rule)
        app.desk.platform_admins.update({f"{SLACK}:{user}": PlatformAdmin(f"{SLACK}:{user}", role)
                                         for user, role in self.roles.items()})
        self.emoji = settings.report_emoji.strip(":")
        self.admin_channel = settings.admin_channel or ""
        # no automatic retries: a refused call is a failed step the desk's timer retries
        self.client = WebClient(token=bot_token, base_url=settings.api_url, retry_handlers=[])
        scim = ScimClient(settings.scim_url, scim_token) if scim_token else None
        self.platform = SlackPlatform(self.client, settings, scim, app)
        self.app_token = app_token
        self._signing_secret = signing_secret or ""
        self._verifier = SignatureVerifier(self._signing_secret) if signing_secret else None
        self.bolt = BoltApp(client=self.client, signing_secret=self._signing_secret,
                            token_verification_enabled=False, name="conduct-desk",
                            request_verification_enabled=app_token is None,
                            process_before_response=settings.process_before_response)
        self._register()
        self._watch: dict[tuple[str, str], Watched] = {}
        self._watch_loaded = float("-inf")
        self._watch_lock = threading.Lock()
        self._socket: SocketModeHandler | None = None
        self._members: tuple[float, frozenset[str] | None] = (float("-inf"), None)
        self._members_lock = threading.Lock()
        self._later = Later(CARD_ATTEMPTS)
        self._events_pruned_at = datetime.min.replace(tzinfo=UTC)
        self._server: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        for event_type in (events.ReportFiled, events.CaseTaken, events.StepRecorded,
                           events.StepUpdated, events.CaseResolved, events.CaseReopened,
                           events.InvolvementChanged):
            app.bus.subscribe(event_type, self._on_case_event)

    # -- wiring --------------------------------------------------------------------------------
    def _register(self) -> None:
        b = self.bolt
        b.event("message")(self._on_message)
        b.event("reaction_added")(self._on_reaction)
        b.shortcut("report_message")(self._on_report_shortcut)
        b.view(kit.REPORT_CALLBACK)(self._on_report_submit)
        b.view(kit.STEP_CALLBACK)(self._on_step_submit)
        for action_id in (kit.ACTION_TAKE, kit.ACTION_STEP, kit.ACTION_DONE):
            b.action(action_id)(self._on_card_button)
        b.action(kit.ACTION_REREAD)(self._on_reread_button)
        b.command("/coc")(self._on_command)

    # -- transports ----------------------------------------------------------------------------
    def handle_http(self, body: bytes, headers: Mapping[str, str],
                    query: str = "") -> tuple[int, dict[str, str], bytes]:
        """One HTTP request from Slack. Events that concern nobody are answered before Bolt:
        the signature is checked, the JSON read once, and no database is touched."""
        lowered = {k.lower(): v for k, v in headers.items()}
        refused = self._refusal(body, lowered)
        if refused:
            return refused, {}, b""
        if lowered.get("content-type", "").startswith("application/json"):
            try:
                payload = json.loads(body)
            except ValueError:
                return 400, {}, b""
            if isinstance(payload, dict) and self.ignorable(payload):
                return 200, {}, b""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return 400, {}, b""
        response = self.bolt.dispatch(BoltRequest(body=text, query=query, headers=dict(lowered)))
        if response.status == 404:
            # signed, but nothing here handles it (an event or interaction the app does not
            # use): acknowledge it, so Slack never counts the app as failing
            return 200, {}, b""
        out = {k: v[0] if isinstance(v, list) and v else str(v)
               for k, v in response.headers.items()}
        return response.status, out, (response.body or "").encode("utf-8")

    def _refusal(self, body: bytes, headers: Mapping[str, str]) -> int:
        """0 for a request Slack signed; else 400 (malformed) or 401 (unsigned, forged, stale)."""
        timestamp = headers.get("x-slack-request-timestamp", "").strip()
        signature = headers.get("x-slack-signature", "").strip()
        if not timestamp or not signature or self._verifier is None:
            return 401
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return 400
        valid = self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        return 0 if valid else 401

    @property
    def http_handler(self) -> Callable[..., Any]:
        """An ASGI app for Slack's request URL: mount it at ``CONDUCT_SLACK_HTTP_PATH``."""

        async def asgi(scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
            if scope["type"] != "http":
                return
            chunks, size = [], 0
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > MAX_BODY:
                    # Slack's own requests are small: a bigger one is not from Slack (400)
                    await send({"type": "http.response.start", "status": 400, "headers": []})
                    await send({"type": "http.response.body", "body": b""})
                    return
                if not message.get("more_body"):
                    break
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            status, out, body = await asyncio.to_thread(
                self.handle_http, b"".join(chunks), headers,
                scope.get("query_string", b"").decode("latin-1"))
            await send({"type": "http.response.start", "status": status,
                        "headers": [(k.encode(), v.encode()) for k, v in out.items()]})
            await send({"type": "http.response.body", "body": body})

        return asgi

    def _socket_handle(self, client: Any, req: SocketModeRequest) -> None:
        if req.type == "events_api" and isinstance(req.payload, dict) and self.ignorable(req.payload):
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        assert self._socket is not None
        SocketModeHandler.handle(self._socket, client, req)

    def start(self) -> None:
        """Socket Mode in the background when an app token is set; else a small HTTP server."""
        self._later.start()
        if self.app_token:
            self._socket = SocketModeHandler(self.bolt, self.app_token)
            self._socket.client.socket_mode_request_listeners[:] = [self._socket_handle]
            try:
                self._socket.connect()  # type: ignore[no-untyped-call]
            except SlackApiError as exc:
                self.stop()
                raise DeskError(_socket_refusal(exc)) from None
            except OSError as exc:  # URLError included: Slack could not be reached
                self.stop()
                raise DeskError(f"cannot reach Slack at {self.settings.api_url} to open a Socket "
                                f"Mode connection ({getattr(exc, 'reason', exc)}); check the "
                                "network, or CONDUCT_SLACK_API_URL if you set it") from None
            logger.info("Slack: connected in Socket Mode")
            return
        adapter = self

        class Handler(BaseHTTPRequestHandler):
            timeout = READ_TIMEOUT  # a sender that stops half-way does not hold a thread

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                path, _, query = self.path.partition("?")
                if path != adapter.settings.http_path:
                    self.send_error(404)
                    return
                raw = (self.headers.get("Content-Length") or "").strip()
                if not (raw.isascii() and raw.isdigit()):  # missing, negative or not a number
                    self.send_error(400, "Content-Length must be a whole number of bytes")
                    return
                if int(raw) > MAX_BODY:
                    self.send_error(400, f"Slack's requests are at most {MAX_BODY} bytes")
                    return
                try:
                    body = self.rfile.read(int(raw))
                except TimeoutError:
                    self.close_connection = True
                    return
                status, headers, out = adapter.handle_http(body, dict(self.headers.items()), query)
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("slack http: %s", format % args)

        self._server = ThreadingHTTPServer((self.settings.http_host, self.settings.http_port),
                                           Handler)
        self._server.daemon_threads = True
        self._server_thread = threading.Thread(target=self._server.serve_forever,
                                               name="slack-http", daemon=True)
        self._server_thread.start()
        host, port = self._server.server_address[:2]
        logger.info("Slack: listening on http://%s:%s%s", host, port, self.settings.http_path)

    @property
    def http_port(self) -> int | None:
        return int(self._server.server_address[1]) if self._server else None

    def stop(self) -> None:
        self._later.stop()
        if self._socket is not None:
            self._socket.close()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
            self._server_thread = None

    # -- the hot path --------------------------------------------------------------------------
    def ignorable(self, payload: dict[str, Any]) -> bool:
        """True for events that can change nothing (most channel messages): skip Bolt."""
        if payload.get("type") != "event_callback":
            return False
        event = payload.get("event")
        if not isinstance(event, dict):
            return True
        kind = event.get("type")
        if kind == "reaction_added":
            return not self.app.desk.policy.reactions or event.get("reaction") != self.emoji
        if kind != "message":
            return False
        subtype = event.get("subtype")
        if subtype in _IGNORED_SUBTYPES or (event.get("bot_id") and subtype is None):
            return True
        if event.get("channel_type") == "im":
            return subtype is not None
        watched = self._watched()
        if not watched:
            return True
        channel = event.get("channel")
        if subtype == "message_changed":
            inner = event.get("message") or {}
            return (channel, inner.get("ts")) not in watched
        if subtype == "message_deleted":
            return (channel, event.get("deleted_ts")) not in watched
        user = event.get("user")
        return not any(w.channel == channel and w.subject == user for w in watched.values())

    def _watched(self) -> dict[tuple[str, str], Watched]:
        if time.monotonic() - self._watch_loaded > WATCH_TTL:
            with self._watch_lock, self.app.uow() as uow:
                self._watch = self._load_watch(uow.cursors.get(WATCH_KEY))
                self._watch_loaded = time.monotonic()
        return self._watch

    def _load_watch(self, raw: str | None) -> dict[tuple[str, str], Watched]:
        now = self.app.desk.clock.now()
        items = [Watched(c, t, s, datetime.fromisoformat(d)) for c, t, s, d in json.loads(raw or "[]")]
        return {(w.channel, w.ts): w for w in items if w.due_at > now}

    def _change_watch(self, add: Watched | None = None, drop: tuple[str, str] | None = None) -> None:
        with self._watch_lock, self.app.uow() as uow:
            raw = uow.cursors.get(WATCH_KEY)
            uow.cursors.set(WATCH_KEY, raw or "[]")  # lock the row, then read it again
            watch = self._load_watch(uow.cursors.get(WATCH_KEY))
            if add is not None:
                watch[(add.channel, add.ts)] = add
            if drop is not None:
                watch.pop(drop, None)
            uow.cursors.set(WATCH_KEY, json.dumps([[w.channel, w.ts, w.subject, w.due_at.isoformat()]
                                                   for w in watch.values()]))
            uow.commit()
            self._watch, self._watch_loaded = watch, time.monotonic()

    def _first_delivery(self, body: dict[str, Any]) -> bool:
        """False for an event already taken in (Slack retries until it hears back in 3 s)."""
        event_id = body.get("event_id")
        if not event_id:
            return True
        key = f"{EVENT_PREFIX}{event_id}"
        now = self.app.desk.clock.now()
        try:
            with self.app.uow() as uow:
                if uow.cursors.get(key) is not None:
                    logger.info("Slack event %s delivered again; already taken in", event_id)
                    return False
                uow.cursors.set(key, now.isoformat())  # when it was taken in
                if now - self._events_pruned_at >= timedelta(hours=1):
                    # Slack redelivers for minutes, not days: older ids need not be kept
                    uow.cursors.forget(EVENT_PREFIX, (now - EVENT_MEMORY).isoformat())
                    self._events_pruned_at = now
                uow.commit()
        except Exception as exc:  # the same event arriving twice at once: one insert wins
            if type(exc).__name__ != "IntegrityError":
                raise
            return False
        return True

    # -- intake --------------------------------------------------------------------------------
    def _file(self, reporter: str, command: commands.Command) -> None:
        """Run an intake command; an error the reporter can fix goes back to them privately."""
        try:
            self.app.bus.handle(command)
        except DeskError as exc:
            self.platform._dm(reporter, f"Your report could not be filed: {exc}")

    def _on_reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        author, reporter = event.get("item_user"), event.get("user")
        # a reaction shows the channel who reacted: intake by reaction only when the policy
        # turns it on ([intake] reactions = true)
        if (not self.app.desk.policy.reactions or event.get("reaction") != self.emoji
                or item.get("type") != "message" or not author or not reporter
                or author == reporter or not self._first_delivery(body)):
            return
        self._file(reporter, commands.FileReport(
            subject=PersonRef(SLACK, author), reporter=PersonRef(SLACK, reporter),
            source=Source.SLACK, channel=item.get("channel"), message_id=item.get("ts")))

    def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        subtype, channel = event.get("subtype"), str(event.get("channel") or "")
        if subtype == "message_changed":
            inner, before = event.get("message") or {}, event.get("previous_message") or {}
            if inner.get("text") != before.get("text"):
                self._answered(channel, str(inner.get("ts")), "edit")
        elif subtype == "message_deleted":
            self._answered(channel, str(event.get("deleted_ts")), "redaction")
        elif event.get("channel_type") == "im" and subtype is None:
            if event.get("user") and not event.get("bot_id") and self._first_delivery(body):
                self._dm_intake(event)
        elif subtype in (None, "thread_broadcast") and self._first_delivery(body):
            # words close nothing: an apology is shown to the reporter, who may say it is enough
            for w in list(self._watched().values()):
                if w.channel == channel and w.subject == event.get("user"):
                    self.app.bus.handle(commands.AuthorWrote(
                        PersonRef(SLACK, w.subject), channel, w.ts, str(event.get("text") or "")))

    def _answered(self, channel: str, ts: str, how: str) -> None:
        watched = self._watched().get((channel, ts))
        if watched is None:
            return
        self.app.bus.handle(commands.NudgeAnswered(PersonRef(SLACK, watched.subject), channel, ts, how))
        self._change_watch(drop=(channel, ts))

    def _dm_intake(self, event: dict[str, Any]) -> None:
        reporter, text = str(event["user"]), str(event.get("text") or "")
        if says_enough(text):
            if not self.app.bus.handle(commands.NudgeEnough(PersonRef(SLACK, reporter))):
                self.platform._dm(reporter, "Thanks. Nothing of yours is waiting on an answer "
                                            "right now.")
            return
        if text.strip().lower().lstrip("!").startswith("nudge"):
            self._dm_nudge(reporter, text)
            return
        channel = message_id = None
        subject = next((u for u in _MENTION.findall(text) if u != reporter), None)
        link = _PERMALINK.search(text)
        if subject is None and link is None and self._author_wrote_privately(reporter, text):
            return
        if link:
            channel, message_id = link.group(1), f"{link.group(2)}.{link.group(3)}"
            if subject is None:
                fetched = self.platform.fetch_message(channel, message_id)
                subject = fetched.author.user_id if fetched and fetched.author else None
        if subject is None:
            self.platform._dm(reporter, "Thanks for writing. To pass this to the admins, mention "
                                        "the person it is about (for example `@name what "
                                        "happened`) or paste a link to the message. You can also "
                                        "use *Report to admins* in a message's ⋯ menu.")
            return
        self._file(reporter, commands.FileReport(
            subject=PersonRef(SLACK, subject), reporter=PersonRef(SLACK, reporter),
            source=Source.SLACK, channel=channel, message_id=message_id, note=text))

    def _author_wrote_privately(self, author: str, text: str) -> bool:
        """The author of a nudged message wrote to the app: an apology goes to the reporter."""
        shown = 0
        for w in list(self._watched().values()):
            if w.subject == author:
                shown += int(self.app.bus.handle(commands.AuthorWrote(
                    PersonRef(SLACK, author), w.channel, w.ts, text)))
        if shown:
            self.platform._dm(author, "Thank you for writing; we'll pass your words on.")
        return bool(shown)

    def _on_report_shortcut(self, ack: Callable[..., Any], body: dict[str, Any],
                            client: WebClient) -> None:
        ack()
        message = body.get("message") or {}
        reporter, author = body["user"]["id"], message.get("user")
        if not author or author == reporter:
            self.platform._dm(reporter, "That message has no person to report (or it is your "
                                        "own); use the ⋯ menu on the message that hurt.")
            return
        metadata = {"c": body["channel"]["id"], "ts": str(message.get("ts")), "a": author}
        peer = humanize_span(self.app.desk.policy.peer_wait)
        try:
            client.views_open(trigger_id=body["trigger_id"],
                              view=kit.report_modal(metadata, author, peer))
        except SlackApiError as exc:
            logger.warning("could not open the report modal: %s", _error_name(exc))

    def _on_report_submit(self, ack: Callable[..., Any], body: dict[str, Any],
                          view: dict[str, Any]) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        values = view["state"]["values"]
        reporter = body["user"]["id"]
        route = (_value(values, "route").get("selected_option") or {}).get("value", kit.ROUTE_ADMINS)
        chosen = {o["value"] for o in _value(values, "options").get("selected_options") or []}
        harmed = tuple(PersonRef(SLACK, u) for u in _value(values, "harmed").get("selected_users")
                       or [] if u not in (reporter, meta.get("a")))
        note = _value(values, "note").get("value") or None
        ack()
        channel, ts, author = meta["c"], meta["ts"], meta["a"]
        text, link = self._message(channel, ts)
        subject, who = PersonRef(SLACK, author), PersonRef(SLACK, reporter)
        if route == kit.ROUTE_NUDGE and "flagrant" not in chosen:
            self._ask_nudge(commands.Nudge(subject, who, Source.SLACK, channel, ts, text, link,
                                           note=note, harmed=harmed,
                                           anonymous="anonymous" in chosen))
            return
        self._file(reporter, commands.FileReport(
            subject=subject, reporter=who, source=Source.SLACK, anonymous="anonymous" in chosen,
            channel=channel, message_id=ts, message_text=text, message_link=link, harmed=harmed,
            note=note, flagrant="flagrant" in chosen))

    def _ask_nudge(self, command: commands.Nudge) -> None:
        """The peer step on the reporter's behalf: write to the author, watch the message."""
        reporter = command.reporter.user_id
        try:
            self.app.bus.handle(command)
        except DeskError as exc:
            self.platform._dm(reporter, f"The private word could not be sent: {exc}")
            return
        due = self.app.desk.clock.now() + self.app.desk.policy.peer_wait
        self._change_watch(add=Watched(command.channel, command.message_id,
                                       command.subject.user_id, due))
        self.platform._dm(reporter, "Thank you. The desk has written to them privately, "
                                    "without your name. If nothing changes within "
                                    f"{humanize_span(self.app.desk.policy.peer_wait)}, the "
                                    "admins take it from there. There is nothing more you "
                                    "need to do.")

    def _dm_nudge(self, reporter: str, text: str) -> None:
        """``nudge <link>`` in a DM to the app: the private way to ask for a private word."""
        link = _PERMALINK.search(text)
        if link is None:
            self.platform._dm(reporter, "To ask for a private word with the author, send `nudge` "
                                        "and a link to the message (⋯ → *Copy link*), or use "
                                        "*Report to admins* in the message's ⋯ menu.")
            return
        channel, ts = link.group(1), f"{link.group(2)}.{link.group(3)}"
        fetched = self.platform.fetch_message(channel, ts)
        if fetched is None or fetched.author is None:
            self.platform._dm(reporter, "I could not read that message, so nothing was sent. Is "
                                        "the app in that channel? You can also use *Report to "
                                        "admins* in the message's ⋯ menu.")
            return
        self._ask_nudge(commands.Nudge(fetched.author, PersonRef(SLACK, reporter), Source.SLACK,
                                       channel, ts, fetched.text, fetched.link))

    def _message(self, channel: str, ts: str) -> tuple[str | None, str | None]:
        fetched = self.platform.fetch_message(channel, ts)
        return (fetched.text, fetched.link) if fetched else (None, None)

    # -- admins --------------------------------------------------------------------------------
    def _admin(self, user_id: str, need: str, action: Action | None = None) -> str:
        """The acting admin's name, or :class:`InvalidInput` saying who may do this."""
        role = self.roles.get(user_id)
        if role is None:
            raise InvalidInput("only the desk's admins can do this; an admin can add your user id "
                               f"({user_id}) to CONDUCT_SLACK_ADMINS")
        if need != "read" and not role.may_act:
            raise InvalidInput("observers can read cases but not change them; ask a moderator")
        if action is not None and not role.may_take(action):
            raise InvalidInput("a ban needs an admin; moderators act up to a suspension")
        return f"{SLACK}:{user_id}"

    def _not_involved(self, user_id: str, case_id: int) -> None:
        """Refuse (:class:`Recused`, in /coc's words) an admin involved in the case. Only ever
        answered to them privately: for an anonymous reporter, it would say who reported."""
        case = views.case_detail(self.app.uow(), self.app.desk, case_id).case
        if any(case.involves(name) for name in (f"{SLACK}:{user_id}", user_id)):
            fix = (f": `/coc recuse {case_id}` frees it for another admin"
                   if case.taken_by == f"{SLACK}:{user_id}" else "; another admin handles it")
            raise Recused(f"You are involved in case {case_id} and must step aside{fix}.")

    def _on_case_event(self, event: events.Event, uow: UnitOfWork) -> None:
        case_id = getattr(event, "case_id", None)
        if isinstance(case_id, int):
            self._refresh_card_or_retry(case_id, attempt=1)

    def _refresh_card_or_retry(self, case_id: int, attempt: int) -> None:
        """Refresh the card; when Slack is rate limiting or down, try again after the time it
        asks for (a few times), so the admins' card does not stay behind the case."""
        try:
            self.refresh_card(case_id)
        except SlackApiError as exc:
            effect = slack_effect(exc, f"the card of case {case_id}")
            wait = (effect.retry_after or timedelta(seconds=5 * attempt)).total_seconds()
            if not (effect.retryable and self._later.again(
                    attempt, wait, lambda n: self._refresh_card_or_retry(case_id, n))):
                logger.warning("the card of case %s was not updated: %s", case_id, effect.detail)

    def refresh_card(self, case_id: int) -> None:
        """Post the case's card in the admin channel, or update it in place."""
        detail = views.case_detail(self.app.uow(), self.app.desk, case_id)
        if detail.case.subject.platform != SLACK or not self.admin_channel:
            return
        text, blocks = kit.case_card(detail, self.app.desk.policy,
                                     names_hidden=self._reads_admin_channel(detail.case.subject))
        with self.app.uow() as uow:
            ts = uow.cursors.get(card_key(case_id))
        if ts:
            self.client.chat_update(channel=self.admin_channel, ts=ts, text=text, blocks=blocks)
            return
        posted = self.client.chat_postMessage(channel=self.admin_channel, text=text, blocks=blocks)
        with self.app.uow() as uow:
            uow.cursors.set(card_key(case_id), str(posted["ts"]))
            uow.commit()

    def _reads_admin_channel(self, person: PersonRef) -> bool:
        """True when ``person`` may read the admin channel: on the desk's admin list, a member,
        or (when Slack will not say who the members are) possibly."""
        if person.platform != SLACK:
            return False
        if person.user_id in self.roles:
            return True
        members = self._admin_channel_members()
        return members is None or person.user_id in members

    def _admin_channel_members(self) -> frozenset[str] | None:
        with self._members_lock:
            fetched_at, members = self._members
            if time.monotonic() - fetched_at < MEMBERS_TTL:  # a refusal too: not asked again
                return members
            found: set[str] = set()
            cursor = ""
            try:
                while True:
                    page = self.client.conversations_members(channel=self.admin_channel,
                                                             limit=200, cursor=cursor or None)
                    found.update(page.get("members") or [])
                    cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
                    if not cursor:
                        break
            except SlackApiError as exc:
                logger.warning("cannot list the admin channel's members, so cards leave out "
                               "reporters' names: %s", slack_effect(exc, "listing members").detail)
                self._members = (time.monotonic(), None)
                return None
            self._members = (time.monotonic(), frozenset(found))
            return self._members[1]

    def _tell(self, body: dict[str, Any], text: str) -> None:
        """A private answer to the admin who pressed a button."""
        channel = (body.get("channel") or {}).get("id") or self.admin_channel
        try:
            self.client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)
        except SlackApiError as exc:
            logger.warning("could not answer an admin: %s", _error_name(exc))

    def _on_card_button(self, ack: Callable[..., Any], body: dict[str, Any],
                        action: dict[str, Any]) -> None:
        """Take, a step (opens its modal) or mark a manual task done, from a case card."""
        ack()
        user = body["user"]["id"]
        case_id, _, arg = str(action["value"]).partition(":")
        try:
            if action["action_id"] == kit.ACTION_STEP:
                self.open_step_modal(user, int(case_id), arg, body["trigger_id"])
                return
            admin = self._admin(user, "act")
            self._not_involved(user, int(case_id))
            command: commands.Command = (
                commands.TakeCase(int(case_id), admin) if action["action_id"] == kit.ACTION_TAKE
                else commands.MarkManualDone(int(case_id), int(arg), admin))
            self.app.bus.handle(command)
        except DeskError as exc:
            self._tell(body, str(exc))

    def open_step_modal(self, user_id: str, case_id: int, rung_name: str, trigger_id: str,
                        duration: str | None = None) -> None:
        rung = self.app.desk.policy.rung(rung_name)
        admin = self._admin(user_id, "act", rung.action)
        self._not_involved(user_id, case_id)
        composed = views.preview_step(self.app.uow(), self.app.desk, case_id, rung.name, admin,
                                      duration=duration)
        detail = views.case_detail(self.app.uow(), self.app.desk, case_id)
        if rung.action is Action.BAN and self.app.desk.policy.ban_needs_consultation \
                and not detail.case.consultations:
            raise ConsultationNeeded(
                f"case {case_id}: the policy asks to consult the people who were hurt before a "
                f"ban; record it with `/coc consult {case_id} @person what they said`, or "
                f"`/coc consult {case_id} none why it was not possible`")
        recommended = detail.recommendation.rung.name if detail.recommendation else None
        span = format_duration(composed.duration) if composed.duration else None
        meta = {"case": str(case_id), "rung": rung.name, "text": composed.text,
                "duration": span or ""}
        self.client.views_open(trigger_id=trigger_id, view=kit.step_modal(
            meta, case_id, rung.name, composed.text, recommended=recommended, duration=span))

    def _on_step_submit(self, ack: Callable[..., Any], body: dict[str, Any],
                        view: dict[str, Any]) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        values = view["state"]["values"]
        case_id, rung = int(meta["case"]), str(meta["rung"])
        text = str(_value(values, "text").get("value") or "")
        duration = _value(values, "duration").get("value") or None
        reason = _value(values, "reason").get("value") or None
        edited = text.strip() != str(meta["text"]).strip()
        try:
            admin = self._admin(body["user"]["id"], "act", self.app.desk.policy.rung(rung).action)
            # the checks an admin can fix in the modal, before it closes
            views.preview_step(self.app.uow(), self.app.desk, case_id, rung, admin,
                               duration=duration)
            detail = views.case_detail(self.app.uow(), self.app.desk, case_id)
            if edited:
                views.check_step_text(self.app.uow(), self.app.desk, case_id, admin, text)
                self._check_names(text, detail.case, admin)
            rec = detail.recommendation
            if rec is not None and rec.rung.name != rung and not reason:
                raise _FieldError("reason", f"The desk recommends {rec.rung.name} ({rec.reason}); "
                                            f"say why you choose {rung}.")
        except _FieldError as exc:
            ack(response_action="errors", errors={exc.field: exc.message})
            return
        except DeskError as exc:
            field = "duration" if duration and "lasts" in str(exc) else "text"
            ack(response_action="errors", errors={field: str(exc)[:150]})
            return
        ack()
        try:
            self.app.bus.handle(commands.TakeStep(case_id, rung, admin, duration=duration,
                                                  text=text if edited else None, reason=reason))
        except DeskError as exc:
            self.platform._dm(body["user"]["id"], f"Case {case_id}: the step was not taken: {exc}")

    def _check_names(self, text: str, case: Case, admin: str) -> None:
        """Slack people go by names, not ids: refuse a text naming a reporter by name too."""
        for reporter in case.reporters:
            if reporter.platform != SLACK:
                continue
            try:
                user = self.client.users_info(user=reporter.user_id)["user"]
            except SlackApiError as exc:
                logger.warning("could not read a reporter's names: %s", _error_name(exc))
                continue
            profile = user.get("profile") or {}
            names = {user.get("name"), user.get("real_name"), profile.get("display_name"),
                     profile.get("real_name")}
            for name in filter(None, names):
                if len(name) >= 3 and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.I):
                    assert case.id is not None
                    handlers.record_refusal(self.app.uow(), self.app.desk, case.id, admin, "text")
                    raise _FieldError("text", "This text names someone involved in this case; "
                                              "the person it goes to must never learn who "
                                              "reported, so rewrite it without the name.")

    def _on_reread_button(self, ack: Callable[..., Any], body: dict[str, Any],
                          action: dict[str, Any]) -> None:
        ack()
        user = body["user"]["id"]
        try:
            self.app.bus.handle(commands.ConfirmReread(int(action["value"]), PersonRef(SLACK, user)))
        except DeskError as exc:
            self.platform._dm(user, str(exc))
            return
        container = body.get("container") or {}
        message = body.get("message") or {}
        text = str(message.get("text") or "")
        try:
            self.client.chat_update(channel=str(container.get("channel_id")),
                                    ts=str(container.get("message_ts")), text=text,
                                    blocks=kit.reread_done_blocks(text))
        except SlackApiError as exc:
            logger.warning("could not update the warning message: %s", _error_name(exc))

    def _on_command(self, ack: Callable[..., Any], command: dict[str, Any]) -> None:
        """``/coc …``: answered privately to the person who typed it."""
        try:
            answer = self.run_command(str(command.get("user_id")), str(command.get("text") or ""),
                                      str(command.get("trigger_id") or ""))
        except DeskError as exc:
            answer = str(exc)
        # ephemeral (Slack's default, said outright): only the admin who typed it reads it
        if isinstance(answer, tuple):
            ack(text=answer[0], blocks=answer[1], response_type="ephemeral")
        else:
            ack(text=answer, response_type="ephemeral")

    def run_command(self, user: str, text: str,
                    trigger_id: str) -> str | tuple[str, list[dict[str, Any]]]:
        words = text.split()
        verb = words[0].lower() if words else "help"
        args = words[1:]
        if verb == "help":
            return kit.HELP
        if verb == "report":
            mention = _MENTION.fullmatch(args[0]) if args else None
            if mention is None:
                raise InvalidInput("say who it is about: `/coc report @person what happened`")
            self.app.bus.handle(commands.FileReport(
                subject=PersonRef(SLACK, mention.group(1)), reporter=PersonRef(SLACK, user),
                source=Source.SLACK, note=" ".join(args[1:]) or None))
            return "Thank you. The admins have it; there is nothing more you need to do."
        if not args or not args[0].isdigit():
            raise InvalidInput(f"`/coc {verb}` needs a case number, e.g. `/coc {verb} 12`; "
                               "see `/coc help`")
        case_id, rest = int(args[0]), args[1:]
        if verb == "recuse":  # the one thing an involved admin may do on the case
            self.app.bus.handle(commands.Recuse(case_id, self._admin(user, "read")))
            return (f"You have stepped aside from case {case_id}; no reason is recorded. If it "
                    "was yours, the other admins are asked to take it.")
        if verb == "show":
            admin = self._admin(user, "read")
            self._not_involved(user, case_id)
            detail = views.case_detail(self.app.uow(), self.app.desk, case_id, viewer=admin)
            return kit.case_card(detail, self.app.desk.policy)
        if verb == "step":
            if not rest:
                raise InvalidInput("name the step, e.g. `/coc step 12 warn`")
            self.open_step_modal(user, case_id, rest[0], trigger_id, rest[1] if len(rest) > 1 else None)
            return f"Case {case_id}: check the text of the {rest[0]} step in the window that opened."
        admin = self._admin(user, "act")
        self._not_involved(user, case_id)
        bus = self.app.bus
        if verb == "confirm-hurt":
            mention = _MENTION.fullmatch(rest[0]) if len(rest) == 1 else None
            if len(rest) != 1:
                raise InvalidInput(f"say who was hurt: `/coc confirm-hurt {case_id} @person`")
            if mention is not None and mention.group(1) == user:
                raise InvalidInput(f"to step aside yourself, type `/coc recuse {case_id}`")
            hurt = f"{SLACK}:{mention.group(1)}" if mention else rest[0]
            bus.handle(commands.ConfirmHurt(case_id, admin, hurt))
            named = f"<@{mention.group(1)}>" if mention else rest[0]
            return (f"Case {case_id}: {named} is confirmed as hurt; an admin so confirmed steps "
                    "aside from it.")
        if verb == "take":
            bus.handle(commands.TakeCase(case_id, admin))
            return f"Case {case_id} is yours."
        if verb in ("handover", "hand-over"):
            mention = _MENTION.fullmatch(rest[0]) if rest else None
            if mention is None:
                raise InvalidInput(f"say who takes it over: `/coc handover {case_id} @admin`")
            to = mention.group(1)
            if not (to in self.roles and self.roles[to].may_act):
                raise InvalidInput(f"<@{to}> is not one of the desk's moderators or admins "
                                   "(CONDUCT_SLACK_ADMINS); choose someone who is")
            bus.handle(commands.HandOver(case_id, admin, f"{SLACK}:{to}",
                                         may_reassign=self.roles[user].may_reassign))
            return f"Case {case_id} is <@{to}>'s now."
        if verb == "consult":
            if len(rest) < 2:
                raise InvalidInput("`/coc consult 12 @person what they said` or "
                                   "`/coc consult 12 none why it was not possible`")
            mention = _MENTION.fullmatch(rest[0])
            if mention is None and rest[0].lower() != "none":
                raise InvalidInput("name the person consulted as @person, or write `none`")
            person = PersonRef(SLACK, mention.group(1)) if mention else None
            bus.handle(commands.Consult(case_id, admin, " ".join(rest[1:]), person))
            return f"Case {case_id}: consultation recorded."
        if verb == "resolve":
            if not rest:
                raise InvalidInput("`/coc resolve 12 OUTCOME reason`: apologized, steps-taken, "
                                   "no-action or duplicate")
            bus.handle(commands.ResolveCase(case_id, admin, rest[0], " ".join(rest[1:]) or None,
                                            may_reassign=self.roles[user].may_reassign))
            return f"Case {case_id} resolved ({rest[0]})."
        if verb == "reopen":
            bus.handle(commands.ReopenCase(case_id, admin,
                                           may_reassign=self.roles[user].may_reassign))
            return f"Case {case_id} reopened; it is yours."
        if verb in ("done", "lift"):
            if not rest or not rest[0].isdigit():
                raise InvalidInput(f"`/coc {verb} {case_id} STEP-ID`: the step's number is on the card")
            cmd: commands.Command = (commands.MarkManualDone if verb == "done"
                                     else commands.LiftSuspension)(case_id, int(rest[0]), admin)
            bus.handle(cmd)
            return f"Case {case_id}: step {rest[0]} " + ("marked done." if verb == "done" else
                                                         "lifted; the account is being given back.")
        raise InvalidInput(f"unknown command {verb!r}; see `/coc help`")


class _FieldError(DeskError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _value(values: dict[str, Any], block: str) -> dict[str, Any]:
    found = values.get(block, {}).get("value")
    return found if isinstance(found, dict) else {}


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send with ``body`` (for tests, benchmarks and local tools)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def form_body(payload: dict[str, Any]) -> bytes:
    """An interactivity body as Slack sends it: ``payload=<json>``, form-encoded."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def _socket_refusal(exc: SlackApiError) -> str:
    """Why Slack would not open a Socket Mode connection, and what to do about it."""
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {exc.response.status_code}")
    fix = {
        "invalid_auth": "check CONDUCT_SLACK_APP_TOKEN: copy the xapp- token from the app's "
                        "Basic Information → App-Level Tokens",
        "not_allowed_token_type": "CONDUCT_SLACK_APP_TOKEN must be the app-level xapp- token "
                                  "(Basic Information → App-Level Tokens), not the bot's xoxb- token",
        "missing_scope": "the app-level token lacks connections:write; generate one with that "
                         "scope under Basic Information → App-Level Tokens",
    }.get(error, "check the app's Socket Mode settings and CONDUCT_SLACK_APP_TOKEN, or unset it "
                 "to use HTTP mode")
    return f"Slack refused a Socket Mode connection ({error}): {fix}"


def configure(app: DeskApp, settings: SlackSettings | None = None) -> SlackAdapter | None:
    """The Slack adapter from ``CONDUCT_SLACK_*``, or None when Slack is not configured."""
    settings = settings or SlackSettings()
    if not settings.configured:
        return None
    if _MISSING is not None:
        raise DeskError("CONDUCT_SLACK_* is set but Slack support is not installed: "
                        "pip install 'conduct-desk[slack]'")
    # Bolt logs refused and unhandled requests with their whole body (report text, user ids)
    quiet_libraries("slack_bolt", "slack_sdk", "conduct-desk", "httpx", "httpcore")
    bot_token = settings.secret("bot_token")
    signing_secret = settings.secret("signing_secret")
    app_token = settings.secret("app_token")
    if not bot_token:
        raise InvalidInput("CONDUCT_SLACK_BOT_TOKEN (or _FILE) is missing: copy the xoxb- token "
                           "from the app's OAuth & Permissions page")
    if not app_token and not signing_secret:
        raise InvalidInput("CONDUCT_SLACK_SIGNING_SECRET (or _FILE) is missing: copy it from the "
                           "app's Basic Information page, or set CONDUCT_SLACK_APP_TOKEN for "
                           "Socket Mode")
    if not settings.admin_channel:
        raise InvalidInput("CONDUCT_SLACK_ADMIN_CHANNEL is missing: give the id of the private "
                           "channel where admins work (channel details → bottom), and invite the app")
    return SlackAdapter(app, settings, bot_token=bot_token, signing_secret=signing_secret,
                        app_token=app_token, scim_token=settings.secret("scim_token"))


__all__ = ["Role", "SlackAdapter", "SlackPlatform", "SlackSettings", "configure", "form_body",
           "sign"]
