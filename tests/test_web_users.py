"""The admins' users page (accounts and API tokens) through Starlette's TestClient: the CLI's
rules (sessions end, the last admin stays, a token shown once), roles, CSRF and escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select
from starlette.testclient import TestClient

from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import ApiToken, WebUser
from narrative_tracker.web.accounts import add_user, list_tokens, list_users
from narrative_tracker.web.app import create_app

from helpers.web import (
    ACTIVE_PATTERN,
    PASSWORD,
    ROLES,
    SECRET,
    WebWorld,
    build_web_world,
    fast_password_hashing,
    form_csrf,
    signed_in_client,
)

HOSTILE_NAME = "x<script>alert(1)</script>"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[WebWorld]:
    home = tmp_path_factory.mktemp("web-users")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NARRATIVE_TRACKER_HOME", str(home / "home"))
        fast_password_hashing(patch)
        database = open_database(f"sqlite:///{home / 'tracker.db'}")
        yield build_web_world(database)
    database.dispose()


@pytest.fixture(autouse=True)
def _only_the_three_accounts(world) -> Iterator[None]:
    """Every test starts from the world's viewer, analyst and admin, and no token."""
    with world.database.session() as session:
        session.execute(delete(WebUser).where(WebUser.name.not_in(ROLES)))
        session.execute(delete(ApiToken))
        for role in ROLES:
            session.execute(WebUser.__table__.update().where(WebUser.name == role).values(role=role))
    yield


@pytest.fixture
def app(world):
    return create_app(world.settings, world.database, secret=SECRET)


def _roles(world: WebWorld) -> dict[str, str]:
    return {u.name: u.role for u in list_users(world.database)}


def test_an_admin_sees_users_with_role_and_last_sign_in_and_the_nav_link(app):
    admin = signed_in_client(app, "admin")
    page = admin.get("/users")
    assert page.status_code == 200
    assert 'id="nav-users"' in page.text
    rows = dict(re.findall(r'<tr data-user="([^"]+)">.*?<td class="role">(\w+)</td>', page.text, re.S))
    assert rows == {"admin": "admin", "analyst": "analyst", "viewer": "viewer"}
    admin_row = page.text[page.text.index('data-user="admin"'):page.text.index('data-user="analyst"')]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", admin_row)  # signed in just now
    viewer_row = page.text[page.text.index('data-user="viewer"'):]
    assert "not since the app started" in viewer_row.split("</tr>")[0]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text.split("</head>")[1] and "style=" not in page.text


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_viewers_and_analysts_get_403_and_nothing_changes(app, world, role):
    client = signed_in_client(app, role)
    assert client.get("/users").status_code == 403
    assert 'id="nav-users"' not in client.get("/").text
    token = form_csrf(client, "/")  # a valid token: the refusal is the role's
    before, tokens_before = _roles(world), list_tokens(world.database)
    posts = {
        "/users": {"name": "mallory", "role": "admin", "password": PASSWORD, "password_again": PASSWORD},
        "/users/admin/role": {"role": "viewer"},
        "/users/admin/remove": {},
        "/tokens": {"name": "stolen", "role": "admin"},
        "/tokens/any/revoke": {},
    }
    for path, data in posts.items():
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert client.get("/users/admin/remove").status_code == 403
    assert _roles(world) == before and list_tokens(world.database) == tokens_before


def test_an_admin_adds_a_user_who_signs_in(app, world):
    admin = signed_in_client(app, "admin")
    token = form_csrf(admin, "/users")
    answer = admin.post("/users", data={"csrf_token": token, "name": "bob", "role": "analyst",
                                        "password": "bobs-password", "password_again": "bobs-password"})
    assert answer.status_code == 200 and "User bob added (analyst)." in answer.text
    assert _roles(world)["bob"] == "analyst"
    bob = signed_in_client(app, "bob", "bobs-password")
    assert 'id="train"' in bob.get("/models").text and bob.get("/users").status_code == 403  # an analyst


def test_adding_refuses_differing_passwords_a_short_one_a_taken_name_and_a_missing_csrf_token(app, world):
    admin = signed_in_client(app, "admin")
    token = form_csrf(admin, "/users")
    cases = [
        ({"name": "carol", "password": "carols-password", "password_again": "carols-passw0rd"}, "passwords differ"),
        ({"name": "carol", "password": "short", "password_again": "short"}, "at least 8 characters"),
        ({"name": "viewer", "password": "long-enough", "password_again": "long-enough"}, "exists already"),
        ({"name": "bad name", "password": "long-enough", "password_again": "long-enough"}, "use 1-100 letters"),
    ]
    for fields, message in cases:
        answer = admin.post("/users", data={"csrf_token": token, "role": "viewer", **fields})
        assert answer.status_code == 400 and message in answer.text, message
        assert 'value="carols-password"' not in answer.text  # the form never comes back with a password
    refused = admin.post("/users", data={"name": "carol", "role": "admin", "password": "long-enough",
                                         "password_again": "long-enough"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert set(_roles(world)) == set(ROLES)


def test_a_role_change_ends_the_users_sessions(app, world):
    analyst = signed_in_client(app, "analyst")
    assert analyst.get("/models").status_code == 200
    admin = signed_in_client(app, "admin")
    answer = admin.post("/users/analyst/role", data={"csrf_token": form_csrf(admin, "/users"), "role": "viewer"})
    assert "User analyst is now viewer; their sessions ended." in answer.text
    assert _roles(world)["analyst"] == "viewer"
    gone = analyst.get("/models", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")


def test_the_last_admin_can_be_neither_demoted_nor_removed(app, world):
    admin = signed_in_client(app, "admin")
    token = form_csrf(admin, "/users")
    demoted = admin.post("/users/admin/role", data={"csrf_token": token, "role": "analyst"})
    assert demoted.status_code == 400
    assert "last admin and cannot be made analyst: make another user admin first" in demoted.text
    removed = admin.post("/users/admin/remove", data={"csrf_token": token})
    assert removed.status_code == 400 and "last admin and cannot be removed" in removed.text
    assert _roles(world)["admin"] == "admin"
    assert admin.get("/users").status_code == 200  # still signed in: nothing changed
    # With a second admin, the first may step down (and is signed out by it).
    add_user(world.database, "second-admin", "admin", PASSWORD)
    stepped_down = admin.post("/users/admin/role", data={"csrf_token": token, "role": "viewer"},
                              follow_redirects=False)
    assert stepped_down.status_code == 303 and stepped_down.headers["location"].startswith("/login")
    assert _roles(world)["admin"] == "viewer"
    second = signed_in_client(app, "second-admin")
    refused = second.post("/users/second-admin/remove", data={"csrf_token": form_csrf(second, "/users")})
    assert refused.status_code == 400 and "last admin" in refused.text


def test_removing_a_user_asks_first_and_ends_their_sessions(app, world):
    add_user(world.database, "dave", "analyst", PASSWORD)
    dave = signed_in_client(app, "dave")
    admin = signed_in_client(app, "admin")
    confirm = admin.get("/users/dave/remove")
    assert confirm.status_code == 200 and "Remove user dave?" in confirm.text
    assert "dave" in _roles(world)  # asking changes nothing
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text).group(1)  # type: ignore[union-attr]
    done = admin.post("/users/dave/remove", data={"csrf_token": token})
    assert "User dave removed." in done.text and "dave" not in _roles(world)
    assert dave.get("/", follow_redirects=False).status_code == 303
    missing = admin.post("/users/nobody/remove", data={"csrf_token": token})
    assert missing.status_code == 400 and "no user" in missing.text


def test_tokens_are_created_shown_once_listed_and_revoked(app, world):
    admin = signed_in_client(app, "admin")
    token = form_csrf(admin, "/users")
    created = admin.post("/tokens", data={"csrf_token": token, "name": "dashboards", "role": "viewer"},
                         follow_redirects=False)
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-token-value">(ntk_[A-Za-z0-9_-]+)<', created.text).group(1)  # type: ignore[union-attr]
    api = TestClient(app, base_url="http://127.0.0.1")
    assert api.get("/api/v1/narratives", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listing = admin.get("/users").text
    assert 'data-token="dashboards"' in listing and secret not in listing  # shown once, never again
    with world.database.session() as session:
        stored = session.scalar(select(ApiToken.token_hash).where(ApiToken.name == "dashboards"))
    assert stored and secret not in stored
    again = admin.post("/tokens", data={"csrf_token": token, "name": "dashboards", "role": "admin"})
    assert again.status_code == 400 and "exists already" in again.text
    assert "Revoke token dashboards?" in admin.get("/tokens/dashboards/revoke").text
    revoked = admin.post("/tokens/dashboards/revoke", data={"csrf_token": token})
    assert "Token dashboards revoked." in revoked.text
    assert api.get("/api/v1/narratives", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_hostile_names_and_fields_stay_inert(app, world):
    admin = signed_in_client(app, "admin")
    token = form_csrf(admin, "/users")
    answer = admin.post("/users", data={"csrf_token": token, "name": HOSTILE_NAME, "role": "viewer",
                                        "password": "long-enough", "password_again": "long-enough"})
    assert answer.status_code == 400  # not a valid name, and the refusal echoes it escaped
    assert not ACTIVE_PATTERN.search(answer.text) and "&lt;script&gt;" in answer.text
    bad_role = admin.post("/users/viewer/role", data={"csrf_token": token, "role": "<b>root</b>"})
    assert bad_role.status_code == 400 and "<b>root</b>" not in bad_role.text
    assert admin.post("/users", data={"csrf_token": token, "name": "eve", "role": "viewer",
                                      "password": "p" * 5000, "password_again": "p" * 5000}).status_code == 400
    assert set(_roles(world)) == set(ROLES)


def test_the_cli_functions_keep_the_last_admin_too(world):
    from narrative_tracker.errors import UsageError
    from narrative_tracker.web.accounts import remove_user, set_role

    with pytest.raises(UsageError, match="'admin' is the last admin and cannot be made viewer"):
        set_role(world.database, "admin", "viewer")
    with pytest.raises(UsageError, match="last admin and cannot be removed"):
        remove_user(world.database, "admin")
    set_role(world.database, "viewer", "admin")  # a second admin: now either may go
    remove_user(world.database, "admin")
    assert _roles(world) == {"analyst": "analyst", "viewer": "admin"}
    add_user(world.database, "admin", "admin", PASSWORD)  # the next test's admin (the fixture resets roles only)
