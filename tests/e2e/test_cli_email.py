"""`conduct admin email`: where and about what the desk emails an account, from the command
line; and a malformed CONDUCT_SMTP_* setting stops a command with its name."""

from __future__ import annotations

from tests.e2e.test_cli import Conduct, add_accounts, conduct, one_line  # noqa: F401


def test_an_account_is_given_an_address_and_kinds(conduct: Conduct) -> None:  # noqa: F811
    conduct("db", "upgrade")
    add_accounts(conduct, ana="admin")
    out = conduct("admin", "email", "ana", "--address", " ana@example.org ", "--kind", "appeal",
                  "--kind", "NEW-CASE")
    assert one_line(out) == ("account ana: emailed at ana@example.org about new cases, appeals "
                             "while on duty (once CONDUCT_SMTP_HOST and the other CONDUCT_SMTP_* "
                             "settings are set)")
    assert "emailed at ana@example.org about new cases, appeals" in conduct("admin", "list")
    [listed] = conduct.json("admin", "list")  # type: ignore[misc]
    assert listed["email_kinds"] == ["appeal", "new-case"]

    err = conduct("admin", "email", "ana", "--address", "ana at example.org", code=2)
    assert one_line(err).startswith("error: the email address contains a space")
    err = conduct("admin", "email", "ana", "--address", "ana@example.org", "--kind", "weekly",
                  code=2)
    assert one_line(err) == ("error: unknown email kind 'weekly': use new-case, reminder, "
                             "backup, appeal")
    err = conduct("admin", "email", "ana", code=2)
    assert one_line(err) == "error: give --address ADDRESS, or --off to stop the emails"

    secret = "smtp-secret-do-not-print"
    env = {"CONDUCT_SMTP_HOST": "127.0.0.1", "CONDUCT_SMTP_PORT": "twenty-five",
           "CONDUCT_SMTP_FROM": "desk@example.org", "CONDUCT_SMTP_USER": "desk",
           "CONDUCT_SMTP_PASSWORD": secret}
    err = conduct("admin", "email", "ana", "--off", code=2, env=env)
    assert one_line(err) == ("error: CONDUCT_SMTP_PORT is 'twenty-five': use a port number from "
                             "1 to 65535, e.g. 587")
    out = conduct("admin", "email", "ana", "--off", env={**env, "CONDUCT_SMTP_PORT": "2525"})
    assert one_line(out) == "account ana: no more emails"
    assert "about nothing" not in conduct("admin", "list")
    assert all(secret not in printed for printed in conduct.printed)
