"""Contract of the Grafana TEST DOUBLE (tests/doubles/grafana/server.py, not
Grafana): users other than the admin, their sessions, client-side token
rotation (Grafana 10.4+), and the Grafana Admin checks of /api/admin.

The double runs as in test_grafana_double_contract.py (the role's grafana.ini
and provider, the `start`/`stop` helpers of that module); every test gets its
own double. Each behaviour follows the upstream file named in the double's
README (grafana/grafana v12.4.3): pkg/api/login.go, pkg/api/user.go,
pkg/api/user_token.go, pkg/services/auth/authimpl/auth_token.go,
pkg/models/usertoken, pkg/services/authn/clients/session.go,
pkg/services/accesscontrol/middleware.go, pkg/middleware/auth.go,
pkg/api/admin_users.go, pkg/util/encoding.go.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Callable

import test_grafana_double_contract as contract

ADMIN = contract.ADMIN
ADMIN_PASSWORD = contract.ADMIN_PASSWORD
Grafana = contract.Grafana
JSON = {"Content-Type": "application/json"}
ROTATE_BODY = {
    "extra": None,
    "message": "Unauthorized",
    "messageId": "session.token.rotate",
    "statusCode": 401,
    "traceID": "",
}


# --------------------------------------------------------------------------- helpers


def create_user(g: Grafana, login: str, password: str = "user-password-1") -> int:
    reply = g.api().admin.create_user(
        {
            "name": login.title(),
            "email": f"{login}@example.org",
            "login": login,
            "password": password,
        }
    )
    return int(reply["id"])


def login(g: Grafana, user: str, password: str) -> str:
    """POST /login; the `name=value` of the session cookie it sets."""
    form = json.dumps({"user": user, "password": password}).encode()
    status, headers, body = g.request("POST", "/login", JSON, form)
    assert (status, json.loads(body)) == (200, {"message": "Logged in", "redirectUrl": "/"})
    return cookies(headers)["grafana_session"]


def cookies(headers: object) -> dict[str, str]:
    """The Set-Cookie headers by cookie name (the whole header)."""
    found = {}
    for header in headers.get_all("Set-Cookie") or []:  # type: ignore[attr-defined]
        found[header.split("=", 1)[0]] = header
    return found


def session(cookie_header: str) -> str:
    return cookie_header.split(";", 1)[0]


def me(g: Grafana, cookie: str) -> tuple[int, dict]:
    status, _, body = g.request("GET", "/api/user", {"Cookie": session(cookie)})
    return status, json.loads(body)


def age(g: Grafana, seconds: int | None = None) -> dict:
    path = "/api/test-double/age-sessions" + (f"?seconds={seconds}" if seconds else "")
    status, _, body = g.request("POST", path)
    assert status == 200
    return json.loads(body)


def rotate(g: Grafana, cookie: str | None) -> tuple[int, object, bytes]:
    headers = {"Cookie": session(cookie)} if cookie else {}
    return g.request("POST", "/api/user/auth-tokens/rotate", headers)


# --------------------------------------------------------------------------- users sign in


def test_a_created_user_signs_in_and_api_user_is_theirs(fresh: Callable[..., Grafana]) -> None:
    """LoginPost with a user of POST /api/admin/users; GetSignedInUser answers that
    user's profile, not the admin's; basic auth works for them too."""
    g = fresh()
    user_id = create_user(g, "alice")
    cookie = login(g, "alice", "user-password-1")
    status, profile = me(g, cookie)
    assert status == 200
    looked_up = g.api().users.find_user("alice")
    assert profile["id"] == user_id != 1
    assert profile["uid"] == looked_up["uid"]
    assert (profile["login"], profile["email"], profile["name"]) == (
        "alice",
        "alice@example.org",
        "Alice",
    )
    assert profile["orgId"] == 1 and profile["isGrafanaAdmin"] is False
    assert profile["avatarUrl"] == "/avatar/" + hashlib.md5(b"alice@example.org").hexdigest()
    basic = g.api(auth=("alice@example.org", "user-password-1")).user.get_actual_user()
    assert basic["id"] == user_id
    assert g.api().user.get_actual_user()["id"] == 1  # the admin is still the admin


def test_created_users_store_grafanas_salted_hash(fresh: Callable[..., Grafana]) -> None:
    """util.EncodePassword: PBKDF2-HMAC-SHA256, 10000 iterations, 50 bytes, hex,
    with the user's 10-character salt, in the user table's password/salt columns."""
    g = fresh()
    user_id = create_user(g, "bob", "bob-password-1")
    (db_file,) = (g.base / "data").glob("*.db")
    with sqlite3.connect(db_file) as db:
        password, salt, rands = db.execute(
            "SELECT password, salt, rands FROM user WHERE id = ?", (user_id,)
        ).fetchone()
    assert re.fullmatch(r"[0-9A-Za-z]{10}", salt) and re.fullmatch(r"[0-9A-Za-z]{10}", rands)
    expected = hashlib.pbkdf2_hmac("sha256", b"bob-password-1", salt.encode(), 10000, 50)
    assert password == expected.hex()


def test_wrong_password_and_lockout_for_created_users(fresh: Callable[..., Grafana]) -> None:
    """The same password client: a wrong password is password-auth.failed; five
    failures lock the login even for the right password."""
    g = fresh()
    create_user(g, "carol", "carol-password-1")
    form = json.dumps({"user": "carol", "password": "nope"}).encode()
    for _ in range(5):
        status, _, body = g.request("POST", "/login", JSON, form)
        assert status == 401 and json.loads(body)["messageId"] == "password-auth.failed"
    right = json.dumps({"user": "carol", "password": "carol-password-1"}).encode()
    assert g.request("POST", "/login", JSON, right)[0] == 401


# --------------------------------------------------------------------------- Grafana Admin


def test_a_non_admin_gets_403_under_api_admin(fresh: Callable[..., Grafana]) -> None:
    """accesscontrol/middleware.go deny: 403 {title, message, accessErrorId}; the
    permissions route has middleware.ReqGrafanaAdmin first: 403 Permission denied."""
    g = fresh()
    create_user(g, "dave")
    cookie = {"Cookie": session(login(g, "dave", "user-password-1"))}
    new_user = json.dumps({"login": "x", "email": "x@example.org", "password": "xxxxx"}).encode()
    status, _, body = g.request("POST", "/api/admin/users", {**cookie, **JSON}, new_user)
    denied = json.loads(body)
    assert status == 403
    assert set(denied) == {"title", "message", "accessErrorId"}
    assert denied["title"] == "Access denied"
    assert denied["message"] == (
        "You'll need additional permissions to perform this action. "
        "Permissions needed: users:create"
    )
    assert re.fullmatch(r"ACE\d{10}", denied["accessErrorId"])
    flip = json.dumps({"isGrafanaAdmin": True}).encode()
    status, _, body = g.request("PUT", "/api/admin/users/2/permissions", {**cookie, **JSON}, flip)
    assert (status, json.loads(body)) == (403, {"message": "Permission denied"})
    status, _, body = g.request("POST", "/api/admin/provisioning/dashboards/reload", cookie)
    assert status == 403 and json.loads(body)["message"].endswith("provisioning:reload")
    status, _, body = g.request("GET", "/api/users/lookup?loginOrEmail=admin", cookie)
    assert status == 403 and json.loads(body)["message"].endswith("users:read")


def test_permissions_flip_makes_a_grafana_admin(fresh: Callable[..., Grafana]) -> None:
    """AdminUpdateUserPermissions: 200 User permissions updated; the user is then a
    Grafana Admin (GET /api/user, /api/users/lookup, the admin routes)."""
    g = fresh()
    user_id = create_user(g, "erin")
    cookie = login(g, "erin", "user-password-1")
    assert g.api().users.find_user("erin")["isGrafanaAdmin"] is False
    reply = g.api().admin.change_user_permissions(user_id, True)
    assert reply == {"message": "User permissions updated"}
    assert me(g, cookie)[1]["isGrafanaAdmin"] is True
    assert g.api().users.find_user("erin")["isGrafanaAdmin"] is True
    reload = g.request(
        "POST", "/api/admin/provisioning/dashboards/reload", {"Cookie": session(cookie)}
    )
    assert reload[0] == 200
    status, _, body = g.request(
        "PUT", "/api/admin/users/999/permissions", {"Cookie": session(cookie), **JSON}, b"{}"
    )
    assert (status, json.loads(body)) == (404, {"message": "User not found"})


def test_the_last_grafana_admin_stays_one(fresh: Callable[..., Grafana]) -> None:
    """The user service's ErrLastGrafanaAdmin: 400; with a second admin it is allowed."""
    g = fresh()
    status, _, body = g.request(
        "PUT",
        "/api/admin/users/1/permissions",
        JSON,
        b'{"isGrafanaAdmin": false}',
        auth=(ADMIN, ADMIN_PASSWORD),
    )
    assert (status, json.loads(body)) == (400, {"message": "Cannot remove last grafana admin"})
    user_id = create_user(g, "frank")
    g.api().admin.change_user_permissions(user_id, True)
    g.api().admin.change_user_permissions(1, False)
    assert g.api().user.get_actual_user()["isGrafanaAdmin"] is False


# --------------------------------------------------------------------------- rotation


def test_a_session_due_for_rotation_is_401_session_token_rotate(
    fresh: Callable[..., Grafana],
) -> None:
    """clients/session.go: NeedsRotation -> authn.ErrTokenNeedsRotation, written by
    WriteErrOrFallback as errutil's public error; pages redirect to the rotation."""
    g = fresh()
    create_user(g, "gina")
    cookie = login(g, "gina", "user-password-1")
    assert me(g, cookie)[0] == 200
    assert age(g)["aged"] >= 1
    status, _, body = g.request("GET", "/api/user", {"Cookie": session(cookie)})
    assert (status, json.loads(body)) == (401, ROTATE_BODY)
    status, headers, _ = g.request("GET", "/nope", {"Cookie": session(cookie)})
    assert (status, headers["Location"]) == (302, "/user/auth-tokens/rotate")


def test_rotate_gives_a_new_working_cookie_and_a_grace_for_the_old(
    fresh: Callable[..., Grafana],
) -> None:
    """RotateUserAuthToken: 200 {} and WriteSessionCookie (session and
    grafana_session_expiry); the previous token still works until it is presented
    more than UrgentRotateTime (1 minute) after the rotation, then it is due for
    rotation again (validateToken)."""
    g = fresh("[auth]\ntoken_rotation_interval_minutes = 10\n")
    user_id = create_user(g, "hank")
    old = login(g, "hank", "user-password-1")
    age(g)
    status, headers, body = rotate(g, old)
    assert (status, body) == (200, b"{}")
    written = cookies(headers)
    new = written["grafana_session"]
    assert session(new) != session(old)
    assert "Max-Age=2592000" in new and "HttpOnly" in new and "SameSite=Lax" in new
    expiry = written["grafana_session_expiry"]
    assert "HttpOnly" not in expiry
    next_rotation = int(session(expiry).split("=", 1)[1])
    assert abs(next_rotation - (time.time() + 600 - 5)) < 10
    assert me(g, new) == (200, me(g, new)[1]) and me(g, new)[1]["id"] == user_id
    assert me(g, old)[0] == 200  # within the grace
    age(g, 61)  # the rotation is now more than a minute old
    status, _, body = g.request("GET", "/api/user", {"Cookie": session(old)})
    assert (status, json.loads(body)) == (401, ROTATE_BODY)


def test_rotate_twice_quickly_keeps_the_token(fresh: Callable[..., Grafana]) -> None:
    """RotateToken skips a session rotated less than SkipRotationTime (5 s) ago:
    200 {} and no new cookie."""
    g = fresh()
    create_user(g, "iris")
    first = login(g, "iris", "user-password-1")
    age(g)
    new = cookies(rotate(g, first)[1])["grafana_session"]
    status, headers, body = rotate(g, new)
    assert (status, body, headers.get_all("Set-Cookie")) == (200, b"{}", None)  # type: ignore[attr-defined]


def test_rotate_without_a_session_is_401(fresh: Callable[..., Grafana]) -> None:
    """No cookie: ErrInvalidSessionToken, 401 and authn.DeleteSessionCookie (both
    cookies, empty, Max-Age=0). An unknown token: ErrUserTokenNotFound, 401, the
    cookie left as it is (user_token.go deletes it only for ErrInvalidSessionToken)."""
    g = fresh()
    status, headers, body = rotate(g, None)
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    deleted = cookies(headers)
    assert deleted["grafana_session"].startswith("grafana_session=; Path=/; Max-Age=0; HttpOnly")
    assert deleted["grafana_session_expiry"].startswith(
        "grafana_session_expiry=; Path=/; Max-Age=0"
    )
    status, headers, body = rotate(g, "grafana_session=0123456789abcdef0123456789abcdef")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert headers.get_all("Set-Cookie") is None  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- revocation


def test_password_change_revokes_only_that_users_sessions(fresh: Callable[..., Grafana]) -> None:
    """AdminUpdateUserPassword: RevokeAllUserTokens(userID); other users' sessions
    stay; the new password signs in, the old one no longer does."""
    g = fresh()
    user_id = create_user(g, "jack", "jack-password-1")
    user_cookie = login(g, "jack", "jack-password-1")
    admin_cookie = login(g, ADMIN, ADMIN_PASSWORD)
    assert g.api().admin.change_user_password(user_id, "jack-password-2") == {
        "message": "User password updated"
    }
    assert me(g, user_cookie)[0] == 401
    assert me(g, admin_cookie) == (200, me(g, admin_cookie)[1])
    assert me(g, admin_cookie)[1]["id"] == 1
    form = json.dumps({"user": "jack", "password": "jack-password-1"}).encode()
    assert g.request("POST", "/login", JSON, form)[0] == 401
    assert me(g, login(g, "jack", "jack-password-2"))[1]["id"] == user_id


# --------------------------------------------------------------------------- migration


def test_an_earlier_grafana_db_is_migrated_without_losing_users(
    fresh: Callable[..., Grafana],
) -> None:
    """A grafana.db of the earlier double (user table without salt/rands): the row
    is kept (lookup), gets a salt, and signs in once an admin sets its password."""
    g = fresh()
    (db_file,) = (g.base / "data").glob("*.db")
    contract.stop(g)
    with sqlite3.connect(db_file) as db:
        db.execute("DROP TABLE user")
        db.execute(
            "CREATE TABLE user (id INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT NOT NULL UNIQUE,"
            " login TEXT NOT NULL UNIQUE, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL"
            " DEFAULT '', password TEXT NOT NULL DEFAULT '', is_admin INTEGER NOT NULL"
            " DEFAULT 0, org_id INTEGER NOT NULL DEFAULT 1, created TEXT NOT NULL,"
            " updated TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO user (id, uid, login, email, is_admin, created, updated) VALUES"
            " (1, 'testdouble-admin', 'admin', 'admin@localhost', 1, '2024-01-01T00:00:00Z',"
            " '2024-01-01T00:00:00Z')"
        )
        db.execute(
            "INSERT INTO user (id, uid, login, email, name, password, created, updated) VALUES"
            " (7, 'uold', 'olduser', 'old@example.org', 'Old', ?, '2024-01-01T00:00:00Z',"
            " '2024-01-01T00:00:00Z')",
            (hashlib.sha256(b"old-password").hexdigest(),),
        )
    g = contract.restart(g)
    try:
        found = g.api().users.find_user("olduser")
        assert (found["id"], found["uid"], found["email"]) == (7, "uold", "old@example.org")
        with sqlite3.connect(db_file) as db:
            (salt,) = db.execute("SELECT salt FROM user WHERE id = 7").fetchone()
        assert len(salt) == 10
        g.api().admin.change_user_password(7, "new-password-7")
        assert me(g, login(g, "olduser", "new-password-7"))[1]["uid"] == "uold"
    finally:
        contract.stop(g)
