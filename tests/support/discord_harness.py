"""Drive the Discord adapter the way Discord does: through the fake's gateway and REST API.

A :class:`Harness` wires the desk (the ``app`` fixture: SQLite, and PostgreSQL when asked) to a
:class:`FakeDiscord` guild on loopback. The adapter is the real one, built by ``configure`` from
``DiscordSettings`` with ``api_url`` / ``gateway_url`` pointing at the fake; nothing else is
patched. The bot's role has exactly the permissions the install link asks for, so a step that
needs more fails here as it would on a real server.

People act as on Discord: a message's context menu opens the report modal, which they submit;
buttons on the card open the step modal, whose text they may edit; ``/coc text:…`` answers
privately. Every helper waits for the desk's answer (no sleeps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tests.support.fake_discord import (
    BOT_ROLE_ID,
    FakeDiscord,
    FakeInteraction,
    FakeMessage,
    JsonDict,
    message_text,
    option,
)

from conduct_desk.bootstrap import App
from conduct_desk.config import preset_text
from conduct_desk.domain.model import Case
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy, parse_policy
from conduct_desk.platforms.discord import DiscordAdapter, DiscordSettings, configure
from conduct_desk.platforms.discord.components import PERMISSION_BITS
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock

SUBJECT, REPORTER, OTHER = "310000000000000001", "310000000000000002", "310000000000000003"
ADMIN, MOD, OBSERVER, STRANGER = (
    "310000000000000011",
    "310000000000000012",
    "310000000000000013",
    "310000000000000014",
)
TALK, ADMINS = "320000000000000001", "320000000000000002"
STAFF_ROLE, ELDERS_ROLE = "330000000000000001", "330000000000000002"
NAMES = {
    SUBJECT: "sam",
    REPORTER: "rae",
    OTHER: "oli",
    ADMIN: "ada",
    MOD: "mo",
    OBSERVER: "obi",
    STRANGER: "stan",
}
SAID = "nobody wants your opinion, go back to where you came from"
REPORT_COMMAND = "Report to admins"
PATCH_ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
FOLLOWUP = "POST /webhooks/{webhook_id}/{webhook_token}"
MODAL_OPENED = "(a modal opened)"


def reactions_policy() -> Policy:
    """The guide preset with reaction intake turned on (it is off by default)."""
    text = preset_text("guide")
    assert "\nreactions = false" in text
    return parse_policy(text.replace("\nreactions = false", "\nreactions = true"), "guide+reactions")


@dataclass
class Harness:
    fake: FakeDiscord
    app: App
    adapter: DiscordAdapter
    clock: FakeClock
    target: FakeMessage  # the subject's message that hurt, in #talk

    # -- interactions ------------------------------------------------------------------------
    def answer(self, interaction: FakeInteraction, timeout: float = 15.0) -> str:
        """What the person who acted reads back: the message answer, the deferred answer's
        edit, or a follow-up; :data:`MODAL_OPENED` when the answer is a modal."""

        def probe() -> str | None:
            for response in interaction.responses:
                if response["type"] == 9:
                    return MODAL_OPENED
                if response["type"] == 4:
                    return str(response["data"].get("content") or "")
            for call in self.fake.calls_to(PATCH_ORIGINAL):
                if call.param("webhook_token") == interaction.token and call.status == 200:
                    return str(call.json.get("content") or "")
            for message in interaction.followups:
                return message_text(message)
            return None

        return self.fake.wait_for(probe, timeout, "the desk's answer to an interaction")

    def ephemeral(self, interaction: FakeInteraction) -> bool:
        """Whether only the person who acted could read the answer."""
        self.answer(interaction)
        messages = [m for m in [interaction.original, *interaction.followups] if m is not None]
        return bool(messages) and all(m.ephemeral for m in messages)

    def command(self, text: str, user: str = ADMIN, channel: str = ADMINS) -> str:
        """``/coc text:…``; the private answer."""
        return self.answer(self.slash(text, user, channel))

    def slash(self, text: str, user: str = ADMIN, channel: str = ADMINS) -> FakeInteraction:
        return self.fake.slash_command(user, "coc", [option("text", text)], channel_id=channel)

    def open_report(self, reporter: str = REPORTER, message: FakeMessage | None = None) -> FakeInteraction:
        """Apps → Report to admins on the message; the modal must be the first answer."""
        opened = self.fake.message_command(reporter, REPORT_COMMAND, (message or self.target).id)
        self.fake.wait_for_response(opened)
        return opened

    def report(
        self,
        *,
        reporter: str = REPORTER,
        note: str | None = None,
        anonymous: bool = False,
        harmed: tuple[str, ...] = (),
        nudge: bool = False,
        flagrant: bool = False,
        message: FakeMessage | None = None,
    ) -> str:
        """The whole reporter's path; returns the confirmation the reporter read."""
        opened = self.open_report(reporter, message)
        assert opened.modal is not None, "the report modal did not open"
        chosen = [v for v, on in (("anonymous", anonymous), ("flagrant", flagrant), ("nudge", nudge)) if on]
        submitted = self.fake.submit_modal(
            opened, values={"note": note or "", "harmed": list(harmed), "options": chosen}
        )
        confirmation = self.answer(submitted)
        assert self.ephemeral(submitted), "the reporter's confirmation must be ephemeral"
        return confirmation

    def report_case(self, **kwargs: Any) -> int:
        self.report(**kwargs)
        return self.latest_case_id()

    def press(self, custom_id: str, user: str = ADMIN, message_id: str | None = None) -> FakeInteraction:
        """Press a button; by default on the latest case's card."""
        if message_id is None:
            message_id = self.card_id(self.latest_case_id())
        return self.fake.click(user, message_id, custom_id)

    def step(
        self,
        case_id: int,
        rung: str,
        user: str = ADMIN,
        *,
        text: str | None = None,
        duration: str | None = None,
        reason: str | None = None,
    ) -> str:
        """Press the step's button on the card, then submit its modal (edited or not)."""
        pressed = self.press(f"case:step:{case_id}:{rung}", user, self.card_id(case_id))
        first = self.answer(pressed)
        if first != MODAL_OPENED:
            return first
        modal = pressed.modal
        assert modal is not None
        values: dict[str, str | bool | list[str]] = {}
        if text is not None:
            values["text"] = text
        if duration is not None:
            values["duration"] = duration
        if reason is not None:
            values["reason"] = reason
        return self.answer(self.fake.submit_modal(pressed, user, values))

    def modal_field(self, interaction: FakeInteraction, custom_id: str) -> JsonDict:
        """One input of the modal the desk opened, by its custom_id."""
        assert interaction.modal is not None
        for component in interaction.modal["components"]:
            inner = component.get("component") or component
            if inner.get("custom_id") == custom_id:
                return dict(inner)
        raise AssertionError(f"no field {custom_id!r} in the modal")

    # -- gateway -------------------------------------------------------------------------------
    def dm_desk(self, user: str, text: str) -> str:
        """A member writes to the bot; returns the DM it answers with."""
        before = len(self.fake.dms_to(user))
        self.fake.send_dm(user, text)
        return self.fake.wait_for(
            lambda: (m := self.fake.dms_to(user))[before:] and message_text(m[-1]),
            15,
            "the desk's DM answer",
        )

    # -- reading the outcome -------------------------------------------------------------------
    def latest_case_id(self) -> int:
        with self.app.uow() as uow:
            ids = uow.cases.case_ids_for(PersonRef("discord", SUBJECT))
        assert ids, "no case was opened"
        return max(ids)

    def case(self, case_id: int) -> Case:
        with self.app.uow() as uow:
            return uow.cases.get(case_id)

    def cursor(self, name: str) -> str | None:
        with self.app.uow() as uow:
            return uow.cursors.get(name)

    def card_id(self, case_id: int) -> str:
        found = self.cursor(f"discord:card:{case_id}")
        assert found is not None, f"case {case_id} has no card"
        return found

    def card(self, case_id: int) -> FakeMessage:
        return self.fake.message(self.card_id(case_id))

    def card_text(self, case_id: int) -> str:
        return message_text(self.card(case_id))

    def run_timers(self, advance: timedelta = timedelta()) -> int:
        self.clock.advance(advance)
        return int(self.app.bus.handle(commands.RunDueTimers(worker="test")))

    def dm_texts(self, user: str) -> list[str]:
        return [message_text(m) for m in self.fake.dms_to(user)]

    def said_to(self, user: str) -> list[str]:
        """Everything from the bot ``user`` can read: DMs, ephemerals, channels they can view."""
        return [message_text(m) for m in self.fake.visible_to(user)]

    def admin_posts(self) -> list[str]:
        return [message_text(m) for m in self.fake.bot_messages(ADMINS)]


@contextmanager
def harness(
    app: App,
    clock: FakeClock,
    *,
    admins: str = f"{ADMIN}:admin,{MOD}:moderator,{OBSERVER}:observer",
    message_content: bool = False,
    bot_permissions: int = PERMISSION_BITS,
    before_start: Callable[[FakeDiscord], None] | None = None,
) -> Iterator[Harness]:
    with FakeDiscord(bot_permissions=bot_permissions, now=clock.now) as fake:
        fake.add_role(STAFF_ROLE, "staff", position=3)
        fake.add_role(ELDERS_ROLE, "elders", position=50)  # above the bot's role
        for user, name in NAMES.items():
            roles = [STAFF_ROLE] if user in (ADMIN, MOD, OBSERVER) else []
            fake.add_member(user, name, global_name=name.capitalize() + " Example", roles=roles)
        fake.add_channel(TALK, "talk")
        fake.add_channel(ADMINS, "admins")
        fake.make_private(ADMINS, visible_to=[STAFF_ROLE])
        target = fake.add_message(TALK, SUBJECT, SAID)
        if before_start is not None:
            before_start(fake)
        settings = DiscordSettings(
            bot_token=fake.token,  # type: ignore[arg-type]
            application_id=fake.application_id,
            guild_id=fake.guild_id,
            admin_channel=ADMINS,
            admins=admins,
            message_content=message_content,
            api_url=fake.api_url,
            gateway_url=fake.gateway_url,
        )
        adapter = configure(app, settings)
        assert adapter is not None
        app.desk.platforms["discord"] = adapter.platform
        app.adapters.append(adapter)
        adapter.start()
        assert adapter.transport.ready.wait(15), "the desk never got READY"
        fake.wait_for(lambda: fake.commands(), 10, "the application commands")
        h = Harness(fake, app, adapter, clock, target)
        try:
            yield h
        finally:
            adapter.stop()


__all__ = [
    "ADMIN",
    "ADMINS",
    "BOT_ROLE_ID",
    "ELDERS_ROLE",
    "MOD",
    "OBSERVER",
    "OTHER",
    "REPORTER",
    "SAID",
    "STAFF_ROLE",
    "STRANGER",
    "SUBJECT",
    "TALK",
    "Harness",
    "harness",
    "reactions_policy",
]
