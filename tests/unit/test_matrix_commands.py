"""Parsing what people type to the Matrix bot, and the Matrix settings (no homeserver needed)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import DeskError, InvalidInput
from conduct_desk.platforms import matrix_commands as mc
from conduct_desk.platforms.matrix import (
    BanMode,
    MatrixConfig,
    MatrixFailure,
    MatrixSettings,
    configure,
)
from conduct_desk.service import commands

BOT = "@desk:example.org"


@pytest.mark.parametrize(("text", "expected"), [
    ("!coc", mc.Help()),
    ("!coc help", mc.Help()),
    ("!coc list", mc.ListCases()),
    ("!coc show 12", mc.ShowCase(12)),
    ("!coc show #12", mc.ShowCase(12)),
    ("!coc take 12", commands.TakeCase(12, "ana")),
    ("!coc step 12 warn", commands.TakeStep(12, "warn", "ana")),
    ("!coc step 3 suspend --duration 24h --reason he was warned, didn't stop",
     commands.TakeStep(3, "suspend", "ana", duration="24h", reason="he was warned, didn't stop")),
    ("!coc step 3 suggest --suggestion take it to #random --reason same again",
     commands.TakeStep(3, "suggest", "ana", suggestion="take it to #random", reason="same again")),
    ("!coc consult 12 @alice:example.org she wants him gone",
     commands.Consult(12, "ana", "she wants him gone", mc.person("@alice:example.org"))),
    ("!coc consult 12 --not-possible they asked not to be contacted",
     commands.Consult(12, "ana", "they asked not to be contacted", None)),
    ("!coc resolve 12 steps-taken", commands.ResolveCase(12, "ana", "steps-taken", None)),
    ("!coc resolve 12 no-action it was a quote from a film",
     commands.ResolveCase(12, "ana", "no-action", "it was a quote from a film")),
    ("!coc reopen 12", commands.ReopenCase(12, "ana")),
    ("!coc handover 12 bo", commands.HandOver(12, "ana", "bo")),
    ("!coc handover 12 @bo:example.org", commands.HandOver(12, "ana", "@bo:example.org")),
    ("!coc retry 12 3", commands.RetryStep(12, 3)),
    ("!coc done 12 3", commands.MarkManualDone(12, 3, "ana")),
    ("!coc lift 12 3", commands.LiftSuspension(12, 3, "ana")),
    ("hello everyone", None),
])
def test_parse_coc(text: str, expected: object) -> None:
    assert mc.parse_coc(text, "ana") == expected


@pytest.mark.parametrize(("text", "message"), [
    ("!coc frobnicate 1", "unknown command"),
    ("!coc take", "which case?"),
    ("!coc take twelve", "not a case number"),
    ("!coc take 0", "1 or more"),
    ("!coc step 12", "which step?"),
    ("!coc step 12 warn --colour red", "unknown option --colour"),
    ("!coc step 12 warn --reason", "--reason needs a value"),
    ("!coc step 12 warn --reason a --reason b", "given twice"),
    ("!coc step 12 warn stray", "unexpected 'stray'"),
    ("!coc consult 12 alice summary", "not a Matrix id"),
    ("!coc consult 12 @alice:example.org", "summary"),
    ("!coc consult 12 --not-possible", "say why"),
    ("!coc resolve 12", "which outcome?"),
    ("!coc retry 12", "which step?"),
    ("!coc handover 12", "to whom?"),
])
def test_parse_coc_errors_say_what_to_type(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        mc.parse_coc(text, "ana")


def test_roles() -> None:
    assert mc.needed_role(mc.ShowCase(1)) is Role.OBSERVER
    assert mc.needed_role(commands.TakeCase(1, "ana")) is Role.MODERATOR
    moderator = mc.DeskAdmin("bo", "@bo:x.org", Role.MODERATOR)
    assert moderator.may(Role.MODERATOR) and not moderator.may(Role.ADMIN)


def test_event_links() -> None:
    link = mc.EventLink("!room:example.org", "$ev1")
    assert mc.find_event_link("see https://matrix.to/#/!room:example.org/$ev1?via=example.org") == link
    assert mc.find_event_link("https://matrix.to/#/%21room%3Aexample.org/%24ev1") == link
    assert mc.find_event_link("matrix:roomid/room:example.org/e/ev1") == link
    assert mc.find_event_link("https://matrix.to/#/#lobby:example.org/$ev1") == mc.EventLink(
        "#lobby:example.org", "$ev1")
    assert mc.find_event_link("https://matrix.to/#/@bob:example.org") is None


def test_parse_dm() -> None:
    link = "https://matrix.to/#/!r:x.org/$e"
    assert mc.parse_dm("!reread", BOT) == mc.ConfirmRereadRequest()
    assert mc.parse_dm("I have re-read it.", BOT) == mc.ConfirmRereadRequest()
    assert mc.parse_dm(f"!nudge {link}", BOT) == mc.NudgeRequest(mc.EventLink("!r:x.org", "$e"))
    assert isinstance(mc.parse_dm("!nudge please", BOT), mc.DmHelp)
    assert mc.parse_dm(f"this hurt {link}", BOT) == mc.ReportRequest(
        f"this hurt {link}", mc.EventLink("!r:x.org", "$e"))
    assert mc.parse_dm(f"{BOT} @bob:x.org keeps messaging me", BOT) == mc.ReportRequest(
        f"{BOT} @bob:x.org keeps messaging me", subject="@bob:x.org")
    assert mc.parse_dm("hello", BOT) == mc.DmHelp()


def test_parse_admins() -> None:
    as_list = mc.parse_admins("ana=@ana:x.org, bo=@bo:x.org moderator, cy=@cy:x.org observer")
    as_json = mc.parse_admins('{"ana": "@ana:x.org", "bo": {"id": "@bo:x.org", "role": "moderator"},'
                              ' "cy": "@cy:x.org observer"}')
    assert as_list == as_json
    assert as_list["@bo:x.org"] == mc.DeskAdmin("bo", "@bo:x.org", Role.MODERATOR)
    assert as_list["@ana:x.org"].role is Role.ADMIN
    for bad, message in (("ana", "name=@user"), ("ana=bob", "not a Matrix id"),
                         ("ana=@ana:x.org boss", "role 'boss'"), ("{nope", "not valid JSON")):
        with pytest.raises(InvalidInput, match=message):
            mc.parse_admins(bad)


def test_settings_files_and_secrets(tmp_path: Path) -> None:
    token, admin = tmp_path / "token", tmp_path / "admin"
    token.write_text("syt_tok_value_1\n")
    admin.write_text("syt_adm_value_2")
    settings = MatrixSettings(homeserver="https://hs.example.org/", user_id=BOT,
                              access_token_file=token, admin_token_file=admin,
                              rooms="!a:x.org, #b:x.org", ban_mode=BanMode.LOCK)
    config = MatrixConfig.from_settings(settings)
    assert (config.homeserver, config.access_token, config.admin_token) == (
        "https://hs.example.org", "syt_tok_value_1", "syt_adm_value_2")
    assert config.rooms == ("!a:x.org", "#b:x.org") and config.ban_mode is BanMode.LOCK
    # without the variable the policy's [ban] account decides; with it, the variable does
    assert MatrixConfig.from_settings(settings.model_copy(update={"ban_mode": None}),
                                      "lock").ban_mode is BanMode.LOCK
    assert MatrixConfig.from_settings(settings.model_copy(update={"ban_mode": None})
                                      ).ban_mode is BanMode.DEACTIVATE
    assert MatrixConfig.from_settings(settings, "deactivate").ban_mode is BanMode.LOCK
    assert "value_" not in repr(config) and "value_" not in repr(settings)


def test_settings_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="CONDUCT_MATRIX_ACCESS_TOKEN or CONDUCT_MATRIX_PASSWORD"):
        MatrixConfig.from_settings(MatrixSettings(homeserver="https://hs", user_id=BOT))
    with pytest.raises(InvalidInput, match="CONDUCT_MATRIX_USER_ID"):
        MatrixConfig.from_settings(MatrixSettings(homeserver="https://hs", user_id="desk",
                                                  password="pw"))
    with pytest.raises(InvalidInput, match="cannot read"):
        MatrixConfig.from_settings(MatrixSettings(homeserver="https://hs", user_id=BOT,
                                                  password_file=tmp_path / "missing"))


def test_configure_without_settings_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configure(object(), MatrixSettings()) is None  # type: ignore[arg-type]


def test_configure_without_nio_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from conduct_desk.platforms import matrix

    monkeypatch.setattr(matrix, "nio", None)
    with pytest.raises(DeskError, match=r"pip install 'conduct-desk\[matrix\]'"):
        configure(object(), MatrixSettings(homeserver="https://hs", user_id=BOT,  # type: ignore[arg-type]
                                           access_token="t"))


def test_homeserver_errors_become_effects() -> None:
    limited = MatrixFailure("M_LIMIT_EXCEEDED", "Too Many Requests", 429, timedelta(seconds=3))
    effect = limited.effect("posting")
    assert effect.retryable and effect.retry_after == timedelta(seconds=3)
    forbidden = MatrixFailure("M_FORBIDDEN", "You don't have permission to kick", 403)
    effect = forbidden.effect("removing", "Give the bot a power level.")
    assert not effect.retryable and "Give the bot a power level." in effect.detail
    gone = MatrixFailure("M_NOT_FOUND", "User not found", 404).effect("suspending")
    assert not gone.retryable and "gone" in gone.detail
    down = MatrixFailure("M_UNREACHABLE", "no answer", None).effect("posting")
    assert down.retryable
