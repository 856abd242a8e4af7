"""``conduct person link`` and ``conduct person unlink``: real processes, a real SQLite file."""

from __future__ import annotations

from tests.e2e.test_cli import Conduct, add_accounts, conduct, one_line  # noqa: F401


def test_an_admin_links_and_unlinks_from_the_command_line(conduct: Conduct) -> None:  # noqa: F811
    conduct("db", "upgrade")
    add_accounts(conduct, ana="admin", obi="observer")
    conduct("report", "--subject", "slack:U1", "--reporter", "riley", "--channel", "#general",
            "--message-id", "m1")
    conduct("case", "step", "1", "warn", "--admin", "ana", "--reason", "first")
    err = conduct("person", "link", "slack:U1", "@sam:x.org", "--admin", "ana", code=2)
    assert "does not say its platform" in one_line(err)
    err = conduct("person", "link", "slack:U1", "matrix:@sam:x.org", "--admin", "obi", code=2)
    assert "observer role" in one_line(err)
    out = conduct("person", "link", "slack:U1", "matrix:@sam:x.org", "--admin", "ana")
    assert out.strip() == "linked as one person: slack:U1, matrix:@sam:x.org"
    # the Matrix account's history is the person's: the warning on Slack counts
    shown = conduct("person", "show", "matrix:@sam:x.org")
    assert "linked accounts: slack:U1" in shown and "warn (case 1)" in shown
    out = conduct("person", "unlink", "matrix:@sam:x.org", "--admin", "ana")
    assert out.strip() == "matrix:@sam:x.org is no longer linked to slack:U1"
    assert "no case is about matrix:@sam:x.org" in one_line(
        conduct("person", "show", "matrix:@sam:x.org", code=2))
    log = conduct("audit", "--actor", "ana")
    assert "ana linked slack:U1, matrix:@sam:x.org as one person" in log
    assert "ana unlinked matrix:@sam:x.org from slack:U1" in log
