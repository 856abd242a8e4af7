"""The fake Slack server, driven by the real ``slack_sdk`` clients (and raw HTTP for SCIM 2.0)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.scim import SCIMClient

# Make the repository root importable (``tests.support``) however pytest is invoked.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.support.fake_slack import DEFAULT_BOT_SCOPES, FakeSlack  # noqa: E402

TOKEN = "xoxb-test-token"
ADMIN_TOKEN = "xoxp-test-admin-token"
ALICE = "U0ALICE001"
BOB = "U0BOB00001"
MODS = "C0MODS0001"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(tokens={TOKEN}, scim_tokens={ADMIN_TOKEN}) as slack:
        slack.add_user(ALICE, "alice", real_name="Alice Example", is_admin=True)
        slack.add_user(BOB, "bob", real_name="Bob Example")
        slack.add_channel(MODS, "mods", members=[ALICE, BOB])
        yield slack


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    # No retry handlers: a 429 must surface as SlackApiError instead of being retried.
    return WebClient(token=TOKEN, base_url=fake.base_url, retry_handlers=[])


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> dict[str, Any]:
    data = exc.value.response.data
    assert isinstance(data, dict)
    return data


# --------------------------------------------------------------------------- basics


def test_base_urls_point_at_loopback(fake: FakeSlack) -> None:
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/api/"
    assert fake.scim_base_url == f"http://127.0.0.1:{fake.port}/scim/v2/"
    assert fake.scim_v1_base_url == f"http://127.0.0.1:{fake.port}/scim/v1/"


def test_auth_test_identifies_the_bot(fake: FakeSlack, client: WebClient) -> None:
    response = client.auth_test()
    assert response["ok"] is True
    assert response["user_id"] == fake.bot_user_id
    assert response["bot_id"] == fake.bot_id
    assert response["team_id"] == fake.team_id
    assert response["url"] == f"https://{fake.team_domain}.slack.com/"


def test_invalid_token_answers_invalid_auth(fake: FakeSlack) -> None:
    bad = WebClient(token="xoxb-wrong", base_url=fake.base_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as exc:
        bad.chat_postMessage(channel=MODS, text="hi")
    assert exc.value.response.status_code == 200
    assert _error(exc) == {"ok": False, "error": "invalid_auth"}
    assert fake.messages(MODS) == []
    # The call is still recorded, with the bearer token it carried.
    (call,) = fake.calls_to("chat.postMessage")
    assert call.headers["Authorization"] == "Bearer xoxb-wrong"


def test_missing_token_answers_not_authed(fake: FakeSlack) -> None:
    response = httpx.post(f"{fake.base_url}auth.test")
    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": "not_authed"}


def test_unknown_method(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.api_call("admin.nothing.here")
    assert _error(exc)["error"] == "unknown_method"


# --------------------------------------------------------------------------- messages


def test_post_message_shape_and_recording(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]
    response = client.chat_postMessage(channel=MODS, text="hello", blocks=blocks)

    assert response.status_code == 200
    assert response["ok"] is True
    assert response["channel"] == MODS
    ts = response["ts"]
    assert isinstance(ts, str) and ts.count(".") == 1
    message = response["message"]
    assert message["type"] == "message"
    assert message["text"] == "hello"
    assert message["ts"] == ts
    assert message["user"] == fake.bot_user_id
    assert message["bot_id"] == fake.bot_id
    assert message["blocks"] == blocks

    (call,) = fake.calls_to("chat.postMessage")
    assert call.params["channel"] == MODS
    assert call.params["text"] == "hello"
    assert call.params["blocks"] == blocks
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.token == TOKEN
    assert [m.text for m in fake.messages(MODS)] == ["hello"]


def test_form_and_query_bodies_are_parsed(fake: FakeSlack, client: WebClient) -> None:
    # The sync WebClient POSTs every non-JSON method as an urlencoded form ...
    client.conversations_open(users=[ALICE])
    form_call = fake.calls_to("conversations.open")[0]
    assert form_call.http_method == "POST"
    assert form_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_call.params["users"] == ALICE
    # ... other clients send GET with a query string.
    response = httpx.get(
        f"{fake.base_url}conversations.members",
        params={"channel": MODS},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.json()["members"] == [fake.bot_user_id, ALICE, BOB]
    get_call = fake.calls_to("conversations.members")[0]
    assert get_call.http_method == "GET"
    assert get_call.params == {"channel": MODS}


def test_post_message_errors(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("C0LOBBY001", "lobby", include_bot=False)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0NOPE0001", text="x")
    assert _error(exc)["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0LOBBY001", text="x")
    assert _error(exc)["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as exc, pytest.warns(UserWarning, match="`text`"):
        client.chat_postMessage(channel=MODS, text="")
    assert _error(exc)["error"] == "no_text"


def test_threads_history_replies_update_permalink_and_reactions(
    fake: FakeSlack, client: WebClient
) -> None:
    parent_ts = fake.add_message(MODS, "report incoming", user=ALICE)
    reply = client.chat_postMessage(channel=MODS, text="on it", thread_ts=parent_ts)
    assert reply["message"]["thread_ts"] == parent_ts
    top = client.chat_postMessage(channel=MODS, text="status")

    history = client.conversations_history(channel=MODS)
    assert [m["text"] for m in history["messages"]] == ["status", "report incoming"]
    assert history["has_more"] is False
    assert history["messages"][1]["reply_count"] == 1
    assert history["messages"][1]["reply_users"] == [fake.bot_user_id]

    replies = client.conversations_replies(channel=MODS, ts=parent_ts)
    assert [m["text"] for m in replies["messages"]] == ["report incoming", "on it"]

    updated = client.chat_update(channel=MODS, ts=top["ts"], text="status: done")
    assert updated["ts"] == top["ts"]
    assert updated["text"] == "status: done"
    assert updated["message"]["edited"]["user"] == fake.bot_user_id
    assert fake.messages(MODS)[-1].edited is not None

    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel=MODS, ts=parent_ts, text="not mine")
    assert _error(exc)["error"] == "cant_update_message"

    link = client.chat_getPermalink(channel=MODS, message_ts=reply["ts"])
    assert link["channel"] == MODS
    assert link["permalink"] == (
        f"https://{fake.team_domain}.slack.com/archives/{MODS}/p{reply['ts'].replace('.', '')}"
        f"?thread_ts={parent_ts}&cid={MODS}"
    )

    assert client.reactions_add(channel=MODS, timestamp=parent_ts, name="eyes")["ok"] is True
    with pytest.raises(SlackApiError) as exc:
        client.reactions_add(channel=MODS, timestamp=parent_ts, name="eyes")
    assert _error(exc)["error"] == "already_reacted"
    assert fake.messages(MODS)[0].reactions == [
        {"name": "eyes", "users": [fake.bot_user_id], "count": 1}
    ]


def test_history_paginates_with_cursor(fake: FakeSlack, client: WebClient) -> None:
    for i in range(5):
        fake.add_message(MODS, f"m{i}", user=ALICE)
    first = client.conversations_history(channel=MODS, limit=2)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = client.conversations_history(channel=MODS, limit=2, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["m2", "m1"]


def test_post_ephemeral(fake: FakeSlack, client: WebClient) -> None:
    response = client.chat_postEphemeral(channel=MODS, user=ALICE, text="only you")
    assert isinstance(response.data, dict)
    assert set(response.data) == {"ok", "message_ts"}
    (ephemeral,) = fake.ephemerals()
    assert (ephemeral.user, ephemeral.text) == (ALICE, "only you")
    assert fake.messages(MODS) == []  # ephemeral messages are not in history
    fake.add_user("U0CAROL001", "carol")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postEphemeral(channel=MODS, user="U0CAROL001", text="x")
    assert _error(exc)["error"] == "user_not_in_channel"


# --------------------------------------------------------------------------- conversations


def test_conversations_open_returns_stable_dm_id(fake: FakeSlack, client: WebClient) -> None:
    first = client.conversations_open(users=[ALICE])
    again = client.conversations_open(users=ALICE)
    dm_id = first["channel"]["id"]
    assert dm_id.startswith("D")
    assert dm_id == again["channel"]["id"] == fake.dm_channel_id(ALICE)
    assert "already_open" not in first
    assert again["already_open"] is True and again["no_op"] is True

    full = client.conversations_open(users=[ALICE], return_im=True)
    assert full["channel"]["is_im"] is True
    assert full["channel"]["user"] == ALICE

    group = client.conversations_open(users=[ALICE, BOB])
    assert group["channel"]["id"].startswith("G")

    posted = client.chat_postMessage(channel=dm_id, text="a private word")
    assert posted["channel"] == dm_id

    with pytest.raises(SlackApiError) as exc:
        client.conversations_open(users=["U0NOBODY01"])
    assert _error(exc)["error"] == "user_not_found"


def test_kick_success(fake: FakeSlack, client: WebClient) -> None:
    response = client.conversations_kick(channel=MODS, user=BOB)
    assert response.data == {"ok": True}
    assert BOB not in fake.channel_members(MODS)
    assert client.conversations_members(channel=MODS)["members"] == [fake.bot_user_id, ALICE]
    (call,) = fake.calls_to("conversations.kick")
    assert call.params == {"channel": MODS, "user": BOB}


def test_kick_not_in_channel(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U0CAROL001", "carol")
    with pytest.raises(SlackApiError) as exc:
        client.conversations_kick(channel=MODS, user="U0CAROL001")
    assert _error(exc) == {"ok": False, "error": "not_in_channel"}


def test_kick_self(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.conversations_kick(channel=MODS, user=fake.bot_user_id)
    assert _error(exc) == {"ok": False, "error": "cant_kick_self"}
    assert fake.bot_user_id in fake.channel_members(MODS)


def test_kick_unknown_user(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.conversations_kick(channel=MODS, user="U0NOBODY01")
    assert _error(exc) == {"ok": False, "error": "user_not_found"}


def test_kick_from_general_and_unknown_channel(fake: FakeSlack, client: WebClient) -> None:
    fake.add_member(fake.general_channel_id, ALICE)
    with pytest.raises(SlackApiError) as exc:
        client.conversations_kick(channel=fake.general_channel_id, user=ALICE)
    assert _error(exc)["error"] == "cant_kick_from_general"
    with pytest.raises(SlackApiError) as exc:
        client.conversations_kick(channel="C0NOPE0001", user=ALICE)
    assert _error(exc)["error"] == "channel_not_found"


def test_conversations_info_and_users_info(fake: FakeSlack, client: WebClient) -> None:
    info = client.conversations_info(channel=MODS, include_num_members=True)
    assert info["channel"]["id"] == MODS
    assert info["channel"]["name"] == "mods"
    assert info["channel"]["is_channel"] is True
    assert info["channel"]["is_member"] is True
    assert info["channel"]["num_members"] == 3

    user = client.users_info(user=ALICE)["user"]
    assert (user["id"], user["name"], user["real_name"]) == (ALICE, "alice", "Alice Example")
    assert user["is_admin"] is True
    assert user["deleted"] is False
    assert user["profile"]["real_name"] == "Alice Example"

    with pytest.raises(SlackApiError) as exc:
        client.users_info(user="U0NOBODY01")
    assert _error(exc) == {"ok": False, "error": "user_not_found"}


def test_private_channel_the_bot_is_not_in_is_invisible(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("G0SECRET01", "secret", members=[ALICE], is_private=True, include_bot=False)
    with pytest.raises(SlackApiError) as exc:
        client.conversations_info(channel="G0SECRET01")
    assert _error(exc)["error"] == "channel_not_found"


# --------------------------------------------------------------------------- views, team


def test_views_open_update_publish(fake: FakeSlack, client: WebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "report",
        "title": {"type": "plain_text", "text": "Report"},
        "blocks": [],
    }
    opened = client.views_open(trigger_id="123.456.abc", view=modal)
    view = opened["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "report"
    assert view["type"] == "modal" and isinstance(view["hash"], str)

    changed = dict(modal, callback_id="report_step_2")
    updated = client.views_update(view_id=view["id"], view=changed, hash=view["hash"])
    assert updated["view"]["id"] == view["id"]
    assert updated["view"]["callback_id"] == "report_step_2"
    with pytest.raises(SlackApiError) as exc:
        client.views_update(view_id=view["id"], view=changed, hash=view["hash"])
    assert _error(exc)["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as exc:
        client.views_update(view_id="V0NOPE", view=changed)
    assert _error(exc)["error"] == "not_found"

    home = client.views_publish(user_id=ALICE, view={"type": "home", "blocks": []})
    again = client.views_publish(user_id=ALICE, view={"type": "home", "blocks": []})
    assert home["view"]["type"] == "home"
    assert home["view"]["id"] == again["view"]["id"]
    assert set(fake.views()) == {view["id"], home["view"]["id"]}


def test_team_info(fake: FakeSlack, client: WebClient) -> None:
    team = client.team_info()["team"]
    assert (team["id"], team["name"], team["domain"]) == (
        fake.team_id,
        fake.team_name,
        fake.team_domain,
    )


# --------------------------------------------------------------------------- error injection


def test_set_scopes_answers_missing_scope_with_needed_and_provided(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.set_scopes(["chat:write", "users:read"])
    with pytest.raises(SlackApiError) as exc:
        client.conversations_kick(channel=MODS, user=BOB)
    assert exc.value.response.status_code == 200
    assert _error(exc) == {
        "ok": False,
        "error": "missing_scope",
        "needed": "channels:manage",
        "provided": "chat:write,users:read",
    }
    assert BOB in fake.channel_members(MODS)
    assert client.chat_postMessage(channel=MODS, text="still allowed")["ok"] is True

    fake.set_scopes(None)
    assert fake.scopes == DEFAULT_BOT_SCOPES
    assert client.conversations_kick(channel=MODS, user=BOB)["ok"] is True


def test_fail_next_missing_scope_shape(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("conversations.kick", "missing_scope")
    with pytest.raises(SlackApiError) as exc:
        client.conversations_kick(channel=MODS, user=BOB)
    body = _error(exc)
    assert body["ok"] is False
    assert body["error"] == "missing_scope"
    assert body["needed"] == "channels:manage"
    assert isinstance(body["provided"], str) and body["provided"]
    assert "channels:manage" not in body["provided"].split(",")
    # Only the next call failed.
    assert client.conversations_kick(channel=MODS, user=BOB)["ok"] is True


def test_fail_next_ratelimited_surfaces_429_with_retry_after(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.fail_next(
        "chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "1"}, times=1
    )
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=MODS, text="too fast")
    response = exc.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert _error(exc) == {"ok": False, "error": "ratelimited"}
    assert fake.messages(MODS) == []

    assert client.chat_postMessage(channel=MODS, text="later")["ok"] is True
    assert len(fake.calls_to("chat.postMessage")) == 2


def test_fail_next_times_and_wildcard(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("users.info", "fatal_error", status=500, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.users_info(user=ALICE)
        assert exc.value.response.status_code == 500
    assert client.users_info(user=ALICE)["ok"] is True

    fake.fail_next("*", "internal_error")
    with pytest.raises(SlackApiError) as exc:
        client.team_info()
    assert _error(exc)["error"] == "internal_error"


# --------------------------------------------------------------------------- SCIM


def _patch_active(fake: FakeSlack, user_id: str, active: bool | str) -> httpx.Response:
    return httpx.patch(
        f"{fake.scim_base_url}Users/{user_id}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": active}],
        },
    )


def test_scim_v2_deactivate_and_reactivate(fake: FakeSlack, client: WebClient) -> None:
    response = _patch_active(fake, BOB, False)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == BOB
    assert body["active"] is False
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]
    assert client.users_info(user=BOB)["user"]["deleted"] is True

    # Azure AD style: the value as a string, no path.
    reactivated = httpx.patch(
        f"{fake.scim_base_url}Users/{BOB}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "value": {"active": "True"}}],
        },
    )
    assert reactivated.json()["active"] is True
    assert client.users_info(user=BOB)["user"]["deleted"] is False

    calls = fake.calls_to("scim.v2.Users.patch")
    assert [c.params["id"] for c in calls] == [BOB, BOB]
    assert calls[0].params["Operations"] == [{"op": "replace", "path": "active", "value": False}]
    assert calls[0].http_method == "PATCH"
    assert calls[0].path == f"/scim/v2/Users/{BOB}"
    assert calls[0].headers["Authorization"] == f"Bearer {ADMIN_TOKEN}"

    got = httpx.get(
        f"{fake.scim_base_url}Users/{BOB}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert got.status_code == 200 and got.json()["active"] is True


def test_scim_v2_delete_deactivates(fake: FakeSlack) -> None:
    response = httpx.delete(
        f"{fake.scim_base_url}Users/{ALICE}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 204
    user = fake.get_user(ALICE)
    assert user is not None and user.deleted is True
    assert len(fake.calls_to("scim.v2.Users.delete")) == 1


def test_scim_v1_through_slack_sdk_client(fake: FakeSlack) -> None:
    scim = SCIMClient(token=ADMIN_TOKEN, base_url=fake.scim_v1_base_url, retry_handlers=[])
    patched = scim.patch_user(id=BOB, partial_user={"active": False})
    assert patched.status_code == 200
    assert patched.body is not None and patched.body["active"] is False
    user = fake.get_user(BOB)
    assert user is not None and user.deleted is True

    scim.patch_user(id=BOB, partial_user={"active": True})
    read = scim.read_user(BOB)
    assert read.status_code == 200
    assert read.user.active is True
    assert read.user.id == BOB

    deleted = scim.delete_user(BOB)
    assert deleted.status_code == 204
    assert [c.method for c in fake.calls if c.method.startswith("scim.")] == [
        "scim.v1.Users.patch",
        "scim.v1.Users.patch",
        "scim.v1.Users.get",
        "scim.v1.Users.delete",
    ]
    assert fake.calls_to("scim.v1.Users.patch")[0].params == {
        "schemas": ["urn:scim:schemas:core:1.0"],
        "active": False,
        "id": BOB,
    }


def test_scim_errors_use_slack_envelope(fake: FakeSlack) -> None:
    bad_token = httpx.get(
        f"{fake.scim_base_url}Users/{BOB}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert bad_token.status_code == 401
    assert bad_token.json() == {"Errors": {"description": "invalid_authentication", "code": 401}}

    missing = _patch_active(fake, "U0NOBODY01", False)
    assert missing.status_code == 404
    assert missing.json()["Errors"]["code"] == 404

    fake.set_scim_enabled(False)
    disabled = _patch_active(fake, BOB, False)
    assert disabled.status_code == 403
    assert disabled.json()["Errors"]["code"] == 403
    user = fake.get_user(BOB)
    assert user is not None and user.deleted is False

    fake.set_scim_enabled(True)
    fake.fail_next(
        "scim.v2.Users.patch", "too_many_requests", status=429, headers={"Retry-After": "3"}
    )
    limited = _patch_active(fake, BOB, False)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert limited.json() == {"Errors": {"description": "too_many_requests", "code": 429}}


# --------------------------------------------------------------------------- concurrency, bolt


def test_concurrent_posts_get_unique_ts(fake: FakeSlack) -> None:
    errors: list[BaseException] = []

    def post(n: int) -> None:
        try:
            WebClient(token=TOKEN, base_url=fake.base_url).chat_postMessage(
                channel=MODS, text=f"msg {n}"
            )
        except BaseException as exc:  # collected, asserted empty below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    timestamps = [m.ts for m in fake.messages(MODS)]
    assert len(timestamps) == len(set(timestamps)) == 20
    assert len(fake.wait_for_calls("chat.postMessage", count=20, timeout=1)) == 20


def test_bolt_app_initialises_against_the_fake(fake: FakeSlack) -> None:
    from slack_bolt import App

    app = App(
        client=WebClient(token=TOKEN, base_url=fake.base_url, retry_handlers=[]),
        signing_secret="not-a-real-secret",
    )
    assert app.client.base_url == fake.base_url
    assert len(fake.calls_to("auth.test")) == 1
