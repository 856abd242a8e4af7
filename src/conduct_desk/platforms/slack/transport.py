"""The Slack app's transport: Bolt listeners that turn Slack's payloads into the chat desk's
inputs, and the :class:`~conduct_desk.service.chat.transport.ChatTransport` calls in Slack's
Web API. The only module that listens with the SDK (``slack_bolt``, Socket Mode).

Slack's own mechanics live here: signature checks, answering within 3 s, event
de-duplication (Slack redelivers), the hot-path filter that answers plain channel messages
without Bolt, Socket Mode, the modals, Block Kit cards. What people's actions mean is the
chat desk's (:class:`~conduct_desk.service.chat.desk.ChatDesk`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.errors import ConfidentialityError, DeskError, InvalidInput
from conduct_desk.platforms.slack import blocks as kit
from conduct_desk.platforms.slack.listener import Server, asgi_app
from conduct_desk.platforms.slack.platform import SlackPlatform, error_name, slack_effect
from conduct_desk.platforms.slack.settings import SlackSettings
from conduct_desk.service import commands, views
from conduct_desk.service.chat.deliveries import Deliveries
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
from conduct_desk.service.chat.roster import ChatAdmin
from conduct_desk.service.chat.transport import Card, MessageRef, Posted
from conduct_desk.service.ports import Effect

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
    MISSING: ModuleNotFoundError | None = exc
else:
    MISSING = None

if TYPE_CHECKING:
    from conduct_desk.service.chat.desk import ChatDesk, DeskApp

logger = logging.getLogger(__name__)

EVENT_PREFIX = "slack:event:"
MEMBERS_TTL = 60.0  # seconds the admin channel's member list is trusted before asking again
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_PERMALINK = re.compile(r"/archives/([CGD][A-Z0-9]+)/p(\d{10})(\d{6})")
_IGNORED_SUBTYPES = frozenset({"channel_join", "channel_leave", "bot_message", "channel_topic",
                               "channel_purpose", "channel_name", "pinned_item", "unpinned_item",
                               "ekm_access_denied", "me_message", "reminder_add"})
_BUTTONS = {kit.ACTION_TAKE: "take", kit.ACTION_STEP: "step", kit.ACTION_DONE: "done"}


class SlackTransport:
    """Slack under the chat desk: Bolt in, Web API out. ``chat`` is set once built."""

    platform = "slack"
    prefix = "/coc"
    person_example = "@person"
    chat: ChatDesk

    def __init__(self, app: DeskApp, settings: SlackSettings, platform: SlackPlatform,
                 admins: dict[str, ChatAdmin], *, signing_secret: str | None,
                 app_token: str | None) -> None:
        self.app = app
        self.settings = settings
        self.slack = platform
        self.client: WebClient = platform.client
        self.admins = admins
        self.emoji = settings.report_emoji.strip(":")
        self.admin_channel = settings.admin_channel or ""
        self.admin_room: str | None = self.admin_channel or None
        self.app_token = app_token
        self._signing_secret = signing_secret or ""
        self._verifier = SignatureVerifier(self._signing_secret) if signing_secret else None
        self.bolt = BoltApp(client=self.client, signing_secret=self._signing_secret,
                            token_verification_enabled=False, name="conduct-desk",
                            request_verification_enabled=app_token is None,
                            process_before_response=settings.process_before_response)
        self._register()
        self._socket: SocketModeHandler | None = None
        self._server: Server | None = None
        self._members: tuple[float, frozenset[str] | None] = (float("-inf"), None)
        self._members_lock = threading.Lock()
        self._bot_user: str | None = None  # the app's own user id, asked of Slack once
        self._deliveries = Deliveries(app.uow, app.desk.clock, EVENT_PREFIX)

    def handle(self, item: ChatInput) -> str | None:
        return self.chat.handle(item)

    # -- wiring --------------------------------------------------------------------------------
    def _register(self) -> None:
        b = self.bolt
        b.event("message")(self._on_message)
        b.event("reaction_added")(self._on_reaction)
        b.shortcut("report_message")(self._on_report_shortcut)
        b.view(kit.REPORT_CALLBACK)(self._on_report_submit)
        b.view(kit.STEP_CALLBACK)(self._on_step_submit)
        for action_id in _BUTTONS:
            b.action(action_id)(self._on_card_button)
        b.action(kit.ACTION_REREAD)(self._on_reread_button)
        b.command("/coc")(self._on_command)

    # -- listening: HTTP and Socket Mode ---------------------------------------------------------
    def handle_http(self, body: bytes, headers: Mapping[str, str],
                    query: str = "") -> tuple[int, dict[str, str], bytes]:
        """One HTTP request from Slack. Events that concern nobody are answered before Bolt:
        the signature is checked, the JSON read once, and no database is touched."""
        lowered = {k.lower(): v for k, v in headers.items()}
        refused = self._refusal(body, lowered)
        if refused:
            return refused, {}, b""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return 400, {}, b""
        payload = _payload(text, lowered.get("content-type", ""))
        if payload is None:
            return 400, {}, b""  # signed, but not a Slack request's shape: refused, not failed
        if self.ignorable(payload):
            return 200, {}, b""
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
        return asgi_app(self.handle_http)

    def _socket_handle(self, client: Any, req: SocketModeRequest) -> None:
        if req.type == "events_api" and isinstance(req.payload, dict) and self.ignorable(req.payload):
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        assert self._socket is not None
        SocketModeHandler.handle(self._socket, client, req)

    def start(self) -> None:
        """Socket Mode in the background when an app token is set; else a small HTTP server."""
        self.desk_account()  # asked now, not while a member waits for an answer
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
        s = self.settings
        self._server = Server(s.http_host, s.http_port, s.http_path, self.handle_http)
        host, port = self._server.address
        logger.info("Slack: listening on http://%s:%s%s", host, port, s.http_path)

    @property
    def http_port(self) -> int | None:
        return self._server.address[1] if self._server else None

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._server is not None:
            self._server.stop()
            self._server = None

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
        channel = str(event.get("channel") or "")
        if subtype == "message_changed":
            inner = event.get("message") or {}
            return not self.chat.watches(channel, str(inner.get("ts")))
        if subtype == "message_deleted":
            return not self.chat.watches(channel, str(event.get("deleted_ts")))
        return not self.chat.watches(channel, author=str(event.get("user")))

    def _first_delivery(self, body: dict[str, Any]) -> bool:
        """False for an event already taken in (Slack retries until it hears back in 3 s)."""
        event_id = body.get("event_id")
        return not event_id or self._deliveries.first(str(event_id))

    # -- events --------------------------------------------------------------------------------
    def _on_reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        author, reporter = event.get("item_user"), event.get("user")
        if (event.get("reaction") != self.emoji or item.get("type") != "message"
                or not reporter or not item.get("channel") or not item.get("ts")):
            return
        event_id = body.get("event_id")  # claimed with the report: redelivered, filed once
        self.handle(Reaction(str(reporter), str(item["channel"]), str(item["ts"]),
                             ReactionKind.REPORT, author=str(author) if author else None,
                             mark=self._deliveries.mark(str(event_id)) if event_id else None))

    def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        subtype, channel = event.get("subtype"), str(event.get("channel") or "")
        if subtype == "message_changed":
            inner, before = event.get("message") or {}, event.get("previous_message") or {}
            # Slack also says "changed" for unfurls and attachments: only a new text counts
            if inner.get("text") != before.get("text"):
                self.handle(MessageEdited(str(inner.get("user") or ""), channel,
                                          str(inner.get("ts"))))
        elif subtype == "message_deleted":
            self.handle(MessageDeleted(channel, str(event.get("deleted_ts"))))
        elif event.get("channel_type") == "im" and subtype is None:
            if event.get("user") and not event.get("bot_id") and self._first_delivery(body):
                self.handle(DirectMessage(str(event["user"]), str(event.get("text") or "")))
        elif subtype in (None, "thread_broadcast") and event.get("user") \
                and self.chat.watches(channel, author=str(event["user"])) \
                and self._first_delivery(body):
            self.handle(ChannelMessage(str(event["user"]), channel, str(event.get("ts")),
                                       str(event.get("text") or "")))

    # -- the report shortcut and its modal -------------------------------------------------------
    def _on_report_shortcut(self, ack: Callable[..., Any], body: dict[str, Any],
                            client: WebClient) -> None:
        ack()
        message = body.get("message") or {}
        reporter, author = body["user"]["id"], message.get("user")
        channel = (body.get("channel") or {}).get("id")
        # the desk's own message has no person behind it to report (a person's message sent
        # through an app, /giphy for one, has a bot_id too, and is theirs)
        if not author or author == reporter or author == self.desk_account() or not channel:
            self.slack.dm_user(reporter, "That message has no person to report (or it is your "
                                         "own); use the ⋯ menu on the message that hurt.")
            return
        metadata = {"c": channel, "ts": str(message.get("ts")), "a": author}
        peer = humanize_span(self.app.desk.policy.peer_wait)
        try:
            client.views_open(trigger_id=body["trigger_id"],
                              view=kit.report_modal(metadata, author, peer))
        except SlackApiError as exc:
            logger.warning("could not open the report modal: %s", error_name(exc))

    def _on_report_submit(self, ack: Callable[..., Any], body: dict[str, Any],
                          view: dict[str, Any]) -> None:
        meta = _meta(view)
        values = (view.get("state") or {}).get("values") or {}
        if not all(meta.get(k) for k in ("c", "ts", "a")):
            ack()  # not a window the desk opened: nothing to file
            logger.warning("a report window came back without its message; nothing filed")
            return
        route = (_value(values, "route").get("selected_option") or {}).get("value",
                                                                           kit.ROUTE_ADMINS)
        chosen = {o["value"] for o in _value(values, "options").get("selected_options") or []}
        harmed = tuple(str(u) for u in _value(values, "harmed").get("selected_users") or [])
        note = _value(values, "note").get("value") or None
        ack()
        channel, ts = str(meta["c"]), str(meta["ts"])
        fetched = self.slack.fetch_message(channel, ts)
        self.handle(ReportSubmitted(
            reporter=str(body["user"]["id"]), subject=str(meta["a"]), channel=channel,
            message_id=ts, note=note, harmed=harmed, anonymous="anonymous" in chosen,
            flagrant="flagrant" in chosen, nudge=route == kit.ROUTE_NUDGE,
            message_text=fetched.text if fetched else None,
            message_link=fetched.link if fetched else None))

    # -- /coc ----------------------------------------------------------------------------------
    def _on_command(self, ack: Callable[..., Any], command: dict[str, Any]) -> None:
        """``/coc …``: answered so that only the person who typed it reads it (ephemeral,
        Slack's default, said outright)."""
        answer = self.handle(CommandTyped(str(command.get("user_id")),
                                          str(command.get("text") or ""),
                                          trigger=str(command.get("trigger_id") or "") or None))
        ack(text=answer or "Done.", response_type="ephemeral")

    # -- case cards ------------------------------------------------------------------------------
    def _on_card_button(self, ack: Callable[..., Any], body: dict[str, Any],
                        action: dict[str, Any]) -> None:
        """Take, a step (opens its modal) or mark a manual task done, from a case card."""
        ack()
        case_id, _, arg = str(action["value"]).partition(":")
        if not (case_id.isascii() and case_id.isdigit()):
            return
        answer = self.handle(CardPressed(str(body["user"]["id"]),
                                         _BUTTONS[str(action["action_id"])], int(case_id), arg,
                                         trigger=body.get("trigger_id")))
        if answer:
            self._ephemeral(body, answer)

    def _ephemeral(self, body: dict[str, Any], text: str) -> None:
        """A private answer to the admin who pressed a button."""
        channel = (body.get("channel") or {}).get("id") or self.admin_channel
        try:
            self.client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)
        except SlackApiError as exc:
            logger.warning("could not answer an admin: %s", error_name(exc))

    def _on_reread_button(self, ack: Callable[..., Any], body: dict[str, Any],
                          action: dict[str, Any]) -> None:
        ack()
        value = str(action.get("value") or "")
        if not (value.isascii() and value.isdigit()):
            return
        if not self.chat.confirm_reread(str(body["user"]["id"]), int(value)):
            return
        container = body.get("container") or {}
        text = str((body.get("message") or {}).get("text") or "")
        try:
            self.client.chat_update(channel=str(container.get("channel_id")),
                                    ts=str(container.get("message_ts")), text=text,
                                    blocks=kit.reread_done_blocks(text))
        except SlackApiError as exc:
            logger.warning("could not update the warning message: %s", error_name(exc))

    # -- the step modal --------------------------------------------------------------------------
    def open_step_form(self, trigger: str, case_id: int, rung: str, text: str,
                       recommended: str | None, duration: str | None) -> bool:
        meta = {"case": str(case_id), "rung": rung, "text": text, "duration": duration or ""}
        try:
            self.client.views_open(trigger_id=trigger, view=kit.step_modal(
                meta, case_id, rung, text, recommended=recommended, duration=duration))
        except SlackApiError as exc:
            # never take the step unseen: the admin presses again (a trigger lasts 3 s)
            raise InvalidInput(f"Slack did not open the step's window ({error_name(exc)}); "
                               "please try again") from None
        return True

    def _on_step_submit(self, ack: Callable[..., Any], body: dict[str, Any],
                        view: dict[str, Any]) -> None:
        meta = _meta(view)
        values = (view.get("state") or {}).get("values") or {}
        case = str(meta.get("case", ""))
        if not (case.isascii() and case.isdigit()) or not meta.get("rung"):
            ack()  # not a window the desk opened: nothing to do
            logger.warning("a step window came back without its case or step; nothing done")
            return
        case_id, rung = int(meta["case"]), str(meta["rung"])
        text = str(_value(values, "text").get("value") or "")
        duration = _value(values, "duration").get("value") or None
        reason = _value(values, "reason").get("value") or None
        edited = text.strip() != str(meta["text"]).strip()
        user = str(body["user"]["id"])
        desk = self.app.desk
        try:
            admin = self.chat.acting(user, Role.MODERATOR, desk.policy.rung(rung).action).name
            # the checks an admin can fix in the modal, before it closes
            views.preview_step(self.app.uow(), desk, case_id, rung, admin, duration=duration)
            if edited:
                views.check_step_text(self.app.uow(), desk, case_id, admin, text)
            rec = views.case_detail(self.app.uow(), desk, case_id).recommendation
            if rec is not None and rec.rung.name != rung and not reason:
                ack(response_action="errors", errors={
                    "reason": f"The desk recommends {rec.rung.name} ({rec.reason}); say why you "
                              f"choose {rung}."})
                return
        except ConfidentialityError as exc:  # the field is the modal's text: no option to name
            ack(response_action="errors", errors={"text": exc.problem[:150]})
            return
        except DeskError as exc:
            field = "duration" if duration and "lasts" in str(exc) else "text"
            ack(response_action="errors", errors={field: self.chat.explain(exc)[:150]})
            return
        ack()
        try:
            self.app.bus.handle(commands.TakeStep(case_id, rung, admin, duration=duration,
                                                  text=text if edited else None, reason=reason))
        except DeskError as exc:
            self.slack.dm_user(user, f"Case {case_id}: the step was not taken: "
                                     f"{self.chat.explain(exc)}")

    # -- ChatTransport -------------------------------------------------------------------------
    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    def person_word(self, word: str) -> str | None:
        """``<@U123>`` (``<@U123|name>`` as Slack escapes it) or a bare ``U123``."""
        found = _MENTION.fullmatch(word)
        if found:
            return found.group(1)
        return word if _USER_ID.fullmatch(word) else None

    def people_in(self, text: str) -> list[str]:
        return _MENTION.findall(text)

    def message_in(self, text: str) -> MessageRef | None:
        found = _PERMALINK.search(text)
        return MessageRef(found.group(1), f"{found.group(2)}.{found.group(3)}") if found else None

    def person_name(self, user_id: str) -> str | None:
        try:
            user = self.client.users_info(user=user_id)["user"]
        except (SlackApiError, OSError) as exc:
            logger.warning("could not read a person's name: %s", error_name(exc))
            return None
        profile = user.get("profile") or {}
        for name in (profile.get("display_name"), profile.get("real_name"),
                     user.get("real_name"), user.get("name")):
            if name and str(name).strip():
                return str(name).strip()
        return None

    def channel_name(self, channel: str) -> str | None:
        try:
            found = self.client.conversations_info(channel=channel)["channel"]
        except (SlackApiError, OSError) as exc:
            logger.warning("could not read a channel's name: %s", error_name(exc))
            return None
        name = found.get("name")
        return f"#{name}" if name and not found.get("is_im") else None

    def looks_after(self, channel: str) -> str | None:
        """Every channel the app is in (it reads no others: Slack says so on fetching)."""
        return channel

    def dm(self, user_id: str, text: str) -> Effect:
        return self.slack.dm_user(user_id, text)

    def answer(self, user_id: str, room: str | None, reply_to: str | None, text: str) -> Effect:
        if room is None:
            return self.slack.dm_user(user_id, text)
        return self.slack.post_reply(room, reply_to, text)

    def post_card(self, card: Card) -> Posted | Effect:
        text, blocks = kit.case_card(card.detail, self.app.desk.policy,
                                     names_hidden=card.names_hidden)
        what = f"the card of case {card.detail.case.id}"
        try:
            if card.existing:
                self.client.chat_update(channel=self.admin_channel, ts=card.existing, text=text,
                                        blocks=blocks)
                return Posted(card.existing)
            posted = self.client.chat_postMessage(channel=self.admin_channel, text=text,
                                                  blocks=blocks)
        except SlackApiError as exc:
            return slack_effect(exc, what)
        except OSError as exc:
            return Effect.failed(f"{what}: could not reach Slack ({type(exc).__name__})")
        return Posted(str(posted["ts"]))

    def reads_admin_room(self, user_id: str) -> bool:
        """True when the person may read the admin channel: a listed admin, a member, or
        (when Slack will not say who the members are) possibly."""
        if user_id in self.admins:
            return True
        members = self._admin_channel_members()
        return members is None or user_id in members

    def desk_account(self) -> str | None:
        """The app's bot user: asked of Slack once (auth.test, at start), never again on a
        member's request; unknown when Slack would not say then."""
        if self._bot_user is None:
            try:
                self._bot_user = str(self.client.auth_test().get("user_id") or "")
            except (SlackApiError, OSError) as exc:
                self._bot_user = ""
                logger.warning("could not ask Slack who the app is: %s", error_name(exc))
        return self._bot_user or None

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
            except OSError as exc:  # a time-out: asked again next time; meanwhile "possibly"
                logger.warning("cannot list the admin channel's members (%s), so this card "
                               "leaves out reporters' names", type(exc).__name__)
                return None
            self._members = (time.monotonic(), frozenset(found))
            return self._members[1]


def _payload(text: str, content_type: str) -> dict[str, Any] | None:
    """The JSON object a Slack request carries (an event's body, or a form's ``payload``
    field); ``{}`` for a form without one (a slash command); None when it is malformed."""
    if content_type.startswith("application/json"):
        raw: str | None = text
    else:
        fields = parse_qs(text, keep_blank_values=True)
        raw = fields["payload"][0] if "payload" in fields else None
    if raw is None:
        return {}
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _meta(view: dict[str, Any]) -> dict[str, Any]:
    """A window's private metadata as the desk wrote it; ``{}`` when it is not that."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _value(values: dict[str, Any], block: str) -> dict[str, Any]:
    found = values.get(block, {}).get("value")
    return found if isinstance(found, dict) else {}


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
