"""``conduct serve`` on a fresh desk prints a one-time setup link, and only then: a real
process on a temporary SQLite file, its output read as an operator reads it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from tests.e2e.test_cli import Conduct, add_accounts, conduct  # noqa: F401
from tests.support.polling import wait_for

LINK = re.compile(r"http://127\.0\.0\.1:(\d+)/setup/([A-Za-z0-9_-]{40,})")
READY = "Uvicorn running on"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(conduct: Conduct) -> Iterator[tuple[int, list[str]]]:  # noqa: F811
    """``conduct serve`` running until the block ends; its output lines so far (stdout and
    stderr), read by a thread as they come."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "conduct_desk", "serve", "--port", str(port)], cwd=conduct.cwd,
        env={**conduct.env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(READY in line for line in lines) or process.poll() is not None,
                 "conduct serve to start", timeout=60)
        assert process.poll() is None, "".join(lines)
        yield port, lines
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=10)
        process.stdout.close()


def test_serve_prints_a_setup_link_when_there_is_no_admin(conduct: Conduct) -> None:  # noqa: F811
    conduct("db", "upgrade")
    with serving(conduct) as (port, lines):
        printed = "".join(lines)
        links = LINK.findall(printed)
        assert len(links) == 1, printed  # once, at start
        assert int(links[0][0]) == port and "works once, for 24 hours" in printed
        token = links[0][1]
        page = httpx.get(f"http://127.0.0.1:{port}/setup/{token}")
        assert page.status_code == 200 and "Set up the desk" in page.text
        signin = httpx.get(f"http://127.0.0.1:{port}/signin").text
        assert "conduct admin add" not in signin and "setup link" in signin
    assert token not in "".join(line for line in lines if " INFO " in line)  # not in the log

    # the operator can print a fresh one while there is still no admin
    out = conduct("setup-link", "--port", str(port))
    assert LINK.search(out) and token not in out


def test_serve_prints_no_link_once_an_admin_exists(conduct: Conduct) -> None:  # noqa: F811
    conduct("db", "upgrade")
    add_accounts(conduct, ana="admin")
    with serving(conduct) as (_, lines):
        printed = "".join(lines)
    assert "/setup/" not in printed and "no admin yet" not in printed
    err = conduct("setup-link", code=2)
    assert "already has an admin" in err and "/setup/" not in err


def test_base_url_is_the_links_address(conduct: Conduct) -> None:  # noqa: F811
    conduct("db", "upgrade")
    out = conduct("setup-link", env={"CONDUCT_BASE_URL": "https://desk.example.org/"})
    assert re.search(r"https://desk\.example\.org/setup/[A-Za-z0-9_-]{40,}\n", out), out
