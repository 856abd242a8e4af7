"""Discord: the desk as a Discord app on discord.py (the ``discord`` extra).

* :mod:`.settings` — ``CONDUCT_DISCORD_*`` (:class:`DiscordSettings`);
* :mod:`.platform` — :class:`DiscordPlatform`, the steps (the :class:`Platform` port) over
  discord.py's HTTP client, on its own loop (:class:`Connection`);
* :mod:`.transport` — :class:`DiscordTransport`, the gateway and interactions turned into the
  chat desk's inputs; :mod:`.components` draws Discord's JSON (cards, modals, the install link);
* :class:`DiscordAdapter` — both under one :class:`~conduct_desk.service.chat.desk.ChatDesk`,
  what ``conduct serve`` starts; :func:`configure` builds it from the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conduct_desk.domain.errors import DeskError, InvalidInput
from conduct_desk.domain.model import Source
from conduct_desk.domain.policy import Action, Policy
from conduct_desk.platforms.discord.components import PERMISSION_BITS, SCOPES, invite_url
from conduct_desk.platforms.discord.platform import (
    CARD_PREFIX,
    MISSING,
    TIMEOUT_LIMIT,
    Connection,
    DiscordPlatform,
    configure_urls,
)
from conduct_desk.platforms.discord.settings import DiscordSettings, parse_discord_admins
from conduct_desk.platforms.quiet import quiet_libraries
from conduct_desk.service.chat.desk import ChatDesk

if TYPE_CHECKING:
    from conduct_desk.service.chat.desk import DeskApp

DM_HELP = ("To tell the admins, mention the person it is about (for example `@name what "
           "happened`) or paste a link to the message (right-click → Copy Message Link); or "
           "use Apps → *Report to admins* on the message itself. To ask for a private word "
           "with the author first, send `nudge` and the link.")


def policy_problems(policy: Policy) -> list[str]:
    """What Discord cannot do as the policy says: a suspension is a timeout, at most 28 days."""
    problems = []
    for rung in policy.ladder:
        if rung.action is Action.SUSPEND and rung.duration is not None \
                and rung.duration.maximum > TIMEOUT_LIMIT:
            problems.append(
                f"step {rung.name!r}: its maximum ({rung.duration.maximum.days} days) is longer "
                "than Discord's longest timeout (28 days); set its maximum to 28d or less, or "
                "use a ban step for longer")
    return problems


class DiscordAdapter:
    """The Discord app: its platform (the steps), its transport (the gateway) and its chat
    desk."""

    def __init__(self, app: DeskApp, settings: DiscordSettings, *, bot_token: str) -> None:
        from conduct_desk.platforms.discord.transport import DeskClient, DiscordTransport

        self.settings = settings
        admins = settings.admin_list()
        configure_urls(settings)
        # Discord's waits pass in real time, whatever the desk's clock says
        self.connection = Connection(bot_token)
        self.platform = DiscordPlatform(self.connection, settings, app)
        self.transport = DiscordTransport(app, settings, self.platform, admins)
        self.connection.client = DeskClient(self.transport, settings)
        self.transport.install(self.connection.client)
        self.chat = ChatDesk(app, self.transport, self.platform, self.transport.roster,
                             source=Source.DISCORD, admins_variable="CONDUCT_DISCORD_ADMINS",
                             dm_help=DM_HELP, card_prefix=CARD_PREFIX)
        self.transport.chat = self.chat

    def start(self) -> None:
        """Connect to the gateway, then say so in the admins' channel."""
        self.chat.start()
        try:
            self.transport.start()
        except DeskError:
            self.chat.stop()
            self.transport.stop()
            raise
        if self.transport.ready.is_set():
            self.chat.listening()

    def pause(self) -> None:
        """Stop listening (another replica does now); the steps still work from here."""
        self.transport.pause()

    def stop(self) -> None:
        self.chat.stop()
        self.transport.stop()


def configure(app: DeskApp, settings: DiscordSettings | None = None) -> DiscordAdapter | None:
    """The Discord adapter from ``CONDUCT_DISCORD_*``, or None when Discord is not configured."""
    settings = settings or DiscordSettings()
    if not settings.configured:
        return None
    if MISSING is not None:
        raise DeskError("CONDUCT_DISCORD_* is set but Discord support is not installed: "
                        "pip install 'conduct-desk[discord]'")
    # discord.py logs requests and payloads at DEBUG (ids, message text): keep them quiet
    quiet_libraries("discord", "aiohttp")
    token = settings.secret("bot_token")
    if not token:
        raise InvalidInput("CONDUCT_DISCORD_BOT_TOKEN (or _FILE) is missing: Developer Portal → "
                           "your app → Bot → Reset Token, and copy it")
    settings.check()
    problems = policy_problems(app.desk.policy)
    if problems:
        raise InvalidInput("the policy does not fit Discord: " + "; ".join(problems))
    return DiscordAdapter(app, settings, bot_token=token)


__all__ = ["PERMISSION_BITS", "SCOPES", "DiscordAdapter", "DiscordPlatform", "DiscordSettings",
           "configure", "invite_url", "parse_discord_admins", "policy_problems"]
