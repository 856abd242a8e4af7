"""A chat desk on the in-memory transport, for the chat behaviour suite."""

from __future__ import annotations

from dataclasses import dataclass

from conduct_desk.bootstrap import App
from conduct_desk.domain.model import Source
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service.chat.desk import ChatDesk
from conduct_desk.service.chat.inputs import CommandTyped, DirectMessage
from conduct_desk.service.chat.memory import MemoryTransport
from conduct_desk.service.chat.roster import parse_admins

ADMINS = "ana=ana:admin, bo=bo moderator, cy=cy observer"
ROOM = "admins"


@dataclass
class Chat:
    app: App
    desk: ChatDesk
    t: MemoryTransport
    sandbox: SandboxPlatform

    def coc(self, user: str, text: str, *, room: str | None = ROOM) -> str:
        """An admin command typed in the admins' room (or, room None, answered in place);
        returns what the asker read."""
        before = len(self.t.said)
        answer = self.desk.handle(CommandTyped(user, text, room=room, message_id="m0"))
        if answer is not None:
            return answer
        new = self.t.said[before:]
        return "\n".join(s.text for s in new if s.kind in ("answer", "dm"))

    def dm(self, user: str, text: str) -> list[str]:
        before = len(self.t.to(user))
        self.desk.handle(DirectMessage(user, text))
        return self.t.to(user)[before:]


def chat_desk(app: App, sandbox: SandboxPlatform, admins: str = ADMINS,
              transport: MemoryTransport | None = None) -> Chat:
    t = transport or MemoryTransport()
    desk = ChatDesk(app, t, sandbox, parse_admins("sandbox", admins, "CONDUCT_CHAT_ADMINS"),
                    source=Source.CLI, admins_variable="CONDUCT_CHAT_ADMINS",
                    dm_help="Send me a link to the message, or @person and what happened.",
                    card_prefix="sandbox:card:")
    return Chat(app, desk, t, sandbox)
