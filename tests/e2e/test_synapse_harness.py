"""The Synapse harness drives a real homeserver: reports, suspension, deactivation."""

from __future__ import annotations

import uuid

from tests.support.synapse import MatrixTestClient, SynapseServer


def _name(prefix: str) -> str:
    # The server is session-wide, so keep user names unique per test.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_report_suspend_unsuspend_deactivate(synapse: SynapseServer) -> None:
    admin_id, admin_token = synapse.register(_name("admin"), "admin-pw", admin=True)
    owner_name, member_name = _name("owner"), _name("member")
    owner_id, owner_token = synapse.register(owner_name, "owner-pw")
    member_id, member_token = synapse.register(member_name, "member-pw")
    assert member_id == synapse.user_id(member_name)

    with (
        MatrixTestClient(synapse.base_url, admin_id, admin_token) as admin,
        MatrixTestClient(synapse.base_url, owner_id, owner_token) as owner,
        MatrixTestClient(synapse.base_url, member_id, member_token) as member,
    ):
        room_id = owner.create_room(name="harness", invite=[member_id])
        member.join(room_id)
        assert set(owner.joined_members(room_id)) == {owner_id, member_id}

        event_id = member.send_text(room_id, "something unkind")
        assert any(e["event_id"] == event_id for e in owner.messages(room_id, limit=5))

        owner.report_event(room_id, event_id, "harassment")
        reports = admin.admin_event_reports(room_id=room_id)
        assert [(r["event_id"], r["reason"], r["user_id"], r["sender"]) for r in reports] == [
            (event_id, "harassment", owner_id, member_id)
        ]

        owner.report_user(member_id, "keeps being unkind")
        user_reports = admin.admin_user_reports(target_user_id=member_id)
        assert [(r["user_id"], r["reason"]) for r in user_reports] == [
            (owner_id, "keeps being unkind")
        ]

        admin.admin_suspend(member_id, True)
        refused = member.send_text_raw(room_id, "am I muted?")
        assert refused.status_code == 403
        assert refused.json()["errcode"] == "M_USER_SUSPENDED"

        admin.admin_suspend(member_id, False)
        member.send_text(room_id, "sorry")

        admin.admin_deactivate(member_id)
        login = member.login(member_name, "member-pw")
        assert login.status_code == 403, login.text
        # Deactivation drops the password hash, so Synapse answers the generic
        # "Invalid username or password" (M_FORBIDDEN), not M_USER_DEACTIVATED.
        assert login.json()["errcode"] == "M_FORBIDDEN", login.text
        assert member.whoami().json()["errcode"] == "M_UNKNOWN_TOKEN"
        # The reporter can still sign in.
        assert owner.login(owner_name, "owner-pw").status_code == 200
