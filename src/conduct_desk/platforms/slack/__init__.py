"""Slack: the desk as a Slack app on Bolt for Python (the ``slack`` extra).

* :mod:`.settings` — ``CONDUCT_SLACK_*`` (:class:`SlackSettings`);
* :mod:`.platform` — :class:`SlackPlatform`, the steps (the :class:`Platform` port) over the
  Web API, with SCIM where the workspace has it;
* :mod:`.transport` — :class:`SlackTransport`, the Bolt app (HTTP or Socket Mode) that turns
  Slack's payloads into the chat desk's inputs; :mod:`.blocks` draws Block Kit;
* :class:`SlackAdapter` — both under one :class:`~conduct_desk.service.chat.desk.ChatDesk`,
  what ``conduct serve`` starts; :func:`configure` builds it from the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conduct_desk.domain.errors import DeskError, InvalidInput
from conduct_desk.domain.model import Source
from conduct_desk.platforms.quiet import quiet_libraries
from conduct_desk.platforms.slack.listener import form_body, sign
from conduct_desk.platforms.slack.platform import (
    CARD_PREFIX,
    ScimClient,
    SlackPlatform,
    slack_effect,
    web_client,
)
from conduct_desk.platforms.slack.settings import SlackSettings
from conduct_desk.platforms.slack.transport import MISSING, SlackTransport
from conduct_desk.service.chat.desk import ChatDesk

if TYPE_CHECKING:
    from conduct_desk.service.chat.desk import DeskApp

DM_HELP = ("To tell the admins, mention the person it is about (for example `@name what "
           "happened`) or paste a link to the message (⋯ → *Copy link*); or use *Report to "
           "admins* in the message's ⋯ menu. To ask for a private word with the author first, "
           "send `nudge` and the link.")


class SlackAdapter:
    """The Slack app: its platform (the steps), its transport (Bolt) and its chat desk."""

    def __init__(self, app: DeskApp, settings: SlackSettings, *, bot_token: str,
                 signing_secret: str | None, app_token: str | None,
                 scim_token: str | None) -> None:
        self.settings = settings
        admins = settings.admin_list()
        client = web_client(bot_token, settings)
        scim = (ScimClient(settings.scim_url, scim_token, timeout=settings.timeout)
                if scim_token else None)
        self.platform = SlackPlatform(client, settings, scim, app)
        self.transport = SlackTransport(app, settings, self.platform, admins,
                                        signing_secret=signing_secret, app_token=app_token)
        self.chat = ChatDesk(app, self.transport, self.platform, admins, source=Source.SLACK,
                             admins_variable="CONDUCT_SLACK_ADMINS", dm_help=DM_HELP,
                             card_prefix=CARD_PREFIX)
        self.transport.chat = self.chat

    def start(self) -> None:
        """Listen (Socket Mode, or HTTP), then say so in the admin channel."""
        self.chat.start()
        try:
            self.transport.start()
        except DeskError:
            self.chat.stop()
            raise
        self.chat.listening()

    def pause(self) -> None:
        """Stop listening (another replica does now); the steps still work from here."""
        self.stop()  # the Web API client stays usable: start() listens again

    def stop(self) -> None:
        self.chat.stop()
        self.transport.stop()

    @property
    def http_port(self) -> int | None:
        return self.transport.http_port

    @property
    def http_handler(self) -> Callable[..., Any]:
        """An ASGI app for Slack's request URL: mount it at ``CONDUCT_SLACK_HTTP_PATH``."""
        return self.transport.http_handler


def configure(app: DeskApp, settings: SlackSettings | None = None) -> SlackAdapter | None:
    """The Slack adapter from ``CONDUCT_SLACK_*``, or None when Slack is not configured."""
    settings = settings or SlackSettings()
    if not settings.configured:
        return None
    if MISSING is not None:
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


__all__ = ["SlackAdapter", "SlackPlatform", "SlackSettings", "SlackTransport", "configure",
           "form_body", "sign", "slack_effect"]
