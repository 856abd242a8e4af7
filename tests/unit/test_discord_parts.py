"""The Discord package's pure parts: settings, the install link, payloads read back, the
permissions worked out from roles, and what the policy must respect on Discord."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from conduct_desk import cli
from conduct_desk.config import preset_text
from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.policy import Action, DurationBounds, parse_policy
from conduct_desk.platforms.discord import components as ui
from conduct_desk.platforms.discord import policy_problems
from conduct_desk.platforms.discord.roster import RoleRoster
from conduct_desk.platforms.discord.settings import DiscordSettings, parse_discord_admins

ANA, BO = "111111111111111111", "222222222222222222"
MODS, GUILD, BOT = "333333333333333333", "444444444444444444", "555555555555555555"


def test_admins_by_user_and_by_role() -> None:
    admins = parse_discord_admins(f"{ANA}:admin, bo={BO}, role:{MODS}:observer role:{GUILD}")
    assert admins.people[ANA].role is Role.ADMIN
    assert admins.people[BO].name == "bo" and admins.people[BO].role is Role.MODERATOR
    assert admins.roles == {MODS: Role.OBSERVER, GUILD: Role.MODERATOR}


def test_a_role_word_may_follow_a_role_entry() -> None:
    assert parse_discord_admins(f"role:{MODS} admin").roles == {MODS: Role.ADMIN}


@pytest.mark.parametrize("value, said", [
    ("role:abc", "not a Discord role id"),
    (f"role:{MODS}:boss", "use admin, moderator or observer"),
    ("U0123ABCD", "not a discord user id"),
])
def test_admin_list_mistakes_say_what_to_write(value: str, said: str) -> None:
    with pytest.raises(InvalidInput, match=said):
        parse_discord_admins(value)


def test_settings_check_names_the_missing_variable_and_where_to_find_it() -> None:
    settings = DiscordSettings(bot_token="t", application_id=ANA, guild_id=GUILD)
    with pytest.raises(InvalidInput, match="CONDUCT_DISCORD_ADMIN_CHANNEL is missing.*Copy "
                                           "Channel ID"):
        settings.check()
    with pytest.raises(InvalidInput, match="not a Discord id"):
        DiscordSettings(application_id="my-app", guild_id=GUILD, admin_channel=BO).check()
    with pytest.raises(InvalidInput, match="must start with wss:// or ws://"):
        DiscordSettings(application_id=ANA, guild_id=GUILD, admin_channel=BO,
                        gateway_url="https://x").check()


def test_settings_defaults_point_at_discord() -> None:
    settings = DiscordSettings()
    assert settings.api_url == "https://discord.com/api/v10"
    assert settings.gateway_url == "wss://gateway.discord.gg"
    assert settings.report_emoji == "🚩" and settings.message_content is False
    assert not settings.configured


def test_invite_url_asks_for_exactly_what_the_desk_uses() -> None:
    query = parse_qs(urlparse(ui.invite_url(ANA, GUILD)).query)
    assert query["scope"] == ["bot applications.commands"]
    assert query["client_id"] == [ANA] and query["guild_id"] == [GUILD]
    bits = int(query["permissions"][0])
    expected = (1 << 2) | (1 << 10) | (1 << 11) | (1 << 13) | (1 << 14) | (1 << 16) | (1 << 28) \
        | (1 << 38) | (1 << 40)
    assert bits == expected == 1374658063364
    assert not bits & ui.ADMINISTRATOR and not bits & (1 << 1)  # no Administrator, no Kick
    assert "guild_id" not in parse_qs(urlparse(ui.invite_url(ANA)).query)


def test_modal_values_from_labels_and_action_rows() -> None:
    data = {"custom_id": "report:1:2:3", "components": [
        {"type": 10, "id": 1},
        {"type": 18, "component": {"type": 4, "custom_id": "note", "value": " it hurt "}},
        {"type": 18, "component": {"type": 5, "custom_id": "harmed", "values": [BO]}},
        {"type": 18, "component": {"type": 22, "custom_id": "options", "values": ["anonymous"]}},
        {"type": 1, "components": [{"type": 4, "custom_id": "reason", "value": ""}]},
    ]}
    values = ui.modal_values(data)
    assert ui.text_value(values, "note") == "it hurt"
    assert ui.text_value(values, "reason") is None
    assert ui.list_value(values, "harmed") == (BO,)
    assert ui.list_value(values, "options") == ("anonymous",)


@pytest.mark.parametrize("custom_id, found", [
    ("case:take:12", ui.Pressed("take", 12)),
    ("case:step:12:warn", ui.Pressed("step", 12, "warn")),
    ("case:done:12:3", ui.Pressed("done", 12, "3")),
    ("reread:7", ui.Pressed("reread", 7)),
    ("case:ban:12", None), ("case:take:x", None), ("other", None),
])
def test_buttons_read_back(custom_id: str, found: ui.Pressed | None) -> None:
    assert ui.pressed(custom_id) == found


def test_command_text_and_the_reported_message() -> None:
    assert ui.command_text({"options": [{"name": "text", "type": 3, "value": "take 3"}]}) == "take 3"
    assert ui.command_text({}) == ""
    data = {"target_id": "9", "resolved": {"messages": {"9": {
        "id": "9", "channel_id": "8", "content": "words", "author": {"id": BO}}}}}
    assert ui.target_message(data, "7") == ui.Target("8", "9", BO, False, "words")
    assert ui.target_message({"target_id": "9"}, "7") is None


def _roles() -> dict[str, ui.GuildRole]:
    return ui.guild_roles([
        {"id": GUILD, "name": "@everyone", "position": 0, "permissions": str(ui.VIEW_CHANNEL)},
        {"id": MODS, "name": "Mods", "position": 5, "permissions": str(ui.MANAGE_MESSAGES)},
        {"id": "666666666666666666", "name": "Conduct Desk", "position": 3,
         "permissions": str(ui.PERMISSION_BITS), "tags": {"bot_id": BOT}},
    ])


def test_who_reads_a_private_channel() -> None:
    private = [{"id": GUILD, "type": 0, "allow": "0", "deny": str(ui.VIEW_CHANNEL)},
               {"id": MODS, "type": 0, "allow": str(ui.VIEW_CHANNEL), "deny": "0"},
               {"id": BO, "type": 1, "allow": "0", "deny": str(ui.VIEW_CHANNEL)}]
    roles = _roles()
    assert not ui.can_view_channel(GUILD, ANA, [], roles, private)
    assert ui.can_view_channel(GUILD, ANA, [MODS], roles, private)
    assert not ui.can_view_channel(GUILD, BO, [MODS], roles, private)  # their own deny wins
    assert ui.can_view_channel(GUILD, BO, [], roles, private, owner_id=BO)
    assert ui.can_view_channel(GUILD, ANA, [], roles, [])


def test_a_refusal_says_which_role_to_move() -> None:
    fix = ui.refusal_fix(Action.SUSPEND, GUILD, BOT, ["666666666666666666"], BO, [MODS],
                         _roles(), owner_id=ANA)
    assert fix.startswith("in Server Settings → Roles, drag «Conduct Desk» above «Mods»")
    weak = _roles() | {"666666666666666666": ui.GuildRole("666666666666666666", "Conduct Desk",
                                                          9, ui.VIEW_CHANNEL, BOT)}
    fix = ui.refusal_fix(Action.BAN, GUILD, BOT, ["666666666666666666"], BO, [MODS], weak, ANA)
    assert fix == "in Server Settings → Roles → «Conduct Desk», turn on «Ban Members»"
    fix = ui.refusal_fix(Action.BAN, GUILD, BOT, ["666666666666666666"], ANA, [], _roles(), ANA)
    assert "owner" in fix


def test_policy_check_refuses_suspensions_longer_than_a_timeout() -> None:
    policy = parse_policy(preset_text("guide"))
    assert policy_problems(policy) == []
    rungs = tuple(r if r.action is not Action.SUSPEND else type(r)(
        r.name, r.action, r.text, r.label, DurationBounds(timedelta(days=1), timedelta(hours=1),
                                                          timedelta(days=30)))
        for r in policy.ladder)
    long = type(policy)(**{**policy.__dict__, "ladder": rungs})
    problems = policy_problems(long)
    assert len(problems) == 1 and "28 days" in problems[0] and "30 days" in problems[0]


def test_the_cli_prints_the_install_link_and_checks_a_policy_for_discord(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APPLICATION_ID", "GUILD_ID", "BOT_TOKEN", "BOT_TOKEN_FILE"):
        monkeypatch.delenv(f"CONDUCT_DISCORD_{name}", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli.app, ["discord", "invite-url", "--application-id", ANA])
    assert result.exit_code == 0
    assert result.stdout.strip() == ui.invite_url(ANA)
    result = runner.invoke(cli.app, ["discord", "invite-url"])
    assert result.exit_code != 0 and "--application-id" in result.output
    policy = tmp_path / "conduct.toml"
    policy.write_text(preset_text("guide").replace('max = "24h"', 'max = "30d"'), "utf-8")
    assert runner.invoke(cli.app, ["policy", "check", str(policy)]).exit_code == 0
    refused = runner.invoke(cli.app, ["policy", "check", str(policy), "--discord"])
    assert refused.exit_code != 0
    assert "not valid for Discord: step 'suspend'" in refused.output
    assert "28 days" in refused.output


def test_role_holders_are_admins_as_discord_says_and_no_longer_once_it_does_not() -> None:
    held = {BO: [MODS]}
    asked: list[str] = []
    found: list[str] = []

    def lookup(user: str) -> list[str] | None:
        asked.append(user)
        return held.get(user)

    admins = parse_discord_admins(f"{ANA}:admin, role:{MODS}:moderator")
    roster = RoleRoster(admins.people, admins.roles, lookup,
                        lambda a, holds: found.append(a.name if holds else f"-{a.name}"))
    assert roster.get(ANA).role is Role.ADMIN and asked == []  # listed: nothing to ask
    bo = roster.get(BO)
    assert bo is not None and bo.role is Role.MODERATOR and bo.name == f"discord:{BO}"
    assert found == [f"discord:{BO}"] and BO in roster
    assert roster.get(BO) is bo and asked == [BO]  # remembered for a while
    assert roster.get(GUILD) is None
    assert roster.learn(BO, []) is None and BO not in roster  # the role was taken away
    assert found == [f"discord:{BO}", f"-discord:{BO}"]  # and the desk is told so
    assert roster.learn(ANA, []) is not None  # a listed person stays listed


def test_a_long_card_fits_discords_embed_limit() -> None:
    embed = {"title": "Case 1", "description": "d" * 4000, "footer": {"text": "f" * 100},
             "fields": [{"name": f"n{i}", "value": "v" * 1024} for i in range(8)]}
    fitted = ui.fit(embed)
    assert ui.embed_size(fitted) <= ui.EMBED_LIMIT
    assert all(len(f["value"]) <= 1024 for f in fitted["fields"])
    assert len(fitted["description"]) <= 4000


def test_a_long_text_goes_as_several_messages_with_nothing_dropped() -> None:
    text = "\n".join(f"line {i} " + "word " * 30 for i in range(30))
    parts = ui.chunks(text)
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())
    assert ui.chunks("short") == ["short"]
    assert all(len(p) <= 2000 for p in ui.chunks("x" * 4500))
