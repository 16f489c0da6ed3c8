"""Contract of the Grafana TEST DOUBLE (tests/doubles/grafana/server.py, not
Grafana) for the desks: service accounts and their tokens, nested folders, folder
permissions of users and service accounts, and what a service account without an
org role (role "None") may do with them: the watchlist API writes each person's
dashboard with such an account, and the grafana role sets it up.

The double runs as in test_grafana_double_contract.py (the role's grafana.ini
and provider, `start`/`stop` from that module); every test gets its own double.
Each behaviour follows the upstream file named in the double's README
(grafana/grafana v12.4.3): pkg/services/serviceaccounts/api/api.go and token.go,
pkg/services/serviceaccounts/database/store.go, pkg/components/satokengen,
pkg/services/authn/clients/api_key.go, pkg/api/folder.go,
pkg/services/folder/folderimpl/folder.go, pkg/api/apierrors/folder.go,
pkg/services/accesscontrol/resourcepermissions/api.go and service.go,
pkg/services/accesscontrol/ossaccesscontrol/folder.go,
pkg/services/accesscontrol/middleware.go, pkg/api/dashboard.go,
pkg/services/dashboards/service/dashboard_service.go, pkg/api/search.go.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
import test_grafana_double_contract as contract

ADMIN = contract.ADMIN
ADMIN_PASSWORD = contract.ADMIN_PASSWORD
Grafana = contract.Grafana
JSON = {"Content-Type": "application/json"}
ACE = re.compile(r"ACE\d{10}")
INVALID_KEY = {
    "extra": None,
    "message": "Invalid API key",
    "messageId": "api-key.invalid",
    "statusCode": 401,
    "traceID": "",
}


# --------------------------------------------------------------------------- helpers


def call(
    g: Grafana,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    cookie: str | None = None,
    admin: bool = True,
) -> tuple[int, Any]:
    """One request: as the admin (basic auth), or with a service account token
    (Bearer), or with a session cookie. The JSON answer."""
    headers = dict(JSON)
    auth = None
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    elif cookie is not None:
        headers["Cookie"] = cookie
    elif admin:
        auth = (ADMIN, ADMIN_PASSWORD)
    data = None if body is None else json.dumps(body).encode()
    status, _, raw = g.request(method, path, headers, data, auth=auth)
    return status, json.loads(raw) if raw.strip() else None


def service_account(g: Grafana, name: str, role: str = "None") -> dict[str, Any]:
    status, doc = call(g, "POST", "/api/serviceaccounts", {"name": name, "role": role})
    assert status == 201, doc
    return dict(doc)


def token_for(g: Grafana, account_id: int, name: str = "desk-token") -> dict[str, Any]:
    status, doc = call(g, "POST", f"/api/serviceaccounts/{account_id}/tokens", {"name": name})
    assert status == 200, doc
    return dict(doc)


def folder(g: Grafana, uid: str, title: str, parent: str = "") -> dict[str, Any]:
    body = {"uid": uid, "title": title, **({"parentUid": parent} if parent else {})}
    status, doc = call(g, "POST", "/api/folders", body)
    assert status == 200, doc
    return dict(doc)


def grant(g: Grafana, uid: str, user_id: int, permission: str) -> None:
    path = f"/api/access-control/folders/{uid}/users/{user_id}"
    status, doc = call(g, "POST", path, {"permission": permission})
    assert status == 200, doc


def dashboard(title: str, uid: str, **extra: Any) -> dict[str, Any]:
    return {"dashboard": {"title": title, "uid": uid, "panels": []}, "overwrite": True, **extra}


def denied(answer: tuple[int, Any], needed: str) -> bool:
    """accesscontrol/middleware.go deny: 403 {title, message, accessErrorId}."""
    status, doc = answer
    return (
        status == 403
        and set(doc) == {"title", "message", "accessErrorId"}
        and doc["title"] == "Access denied"
        and doc["message"]
        == f"You'll need additional permissions to perform this action. Permissions needed: {needed}"
        and bool(ACE.fullmatch(doc["accessErrorId"]))
    )


def desk_writer(g: Grafana, permission: str = "Edit") -> tuple[dict[str, Any], str]:
    """The grafana role's set-up: a "desks" folder, an account without an org role
    holding `permission` on it, a token. The account and the token."""
    folder(g, "desks", "Desks")
    account = service_account(g, "desk writer")
    grant(g, "desks", account["id"], permission)
    return account, token_for(g, account["id"])["key"]


# --------------------------------------------------------------------------- service accounts


def test_create_and_search_service_accounts(fresh: Callable[..., Grafana]) -> None:
    """CreateServiceAccount: 201 and the ServiceAccountDTO, login generateLogin's
    sa-<org>-<lower-cased name, spaces as dashes>; a taken name is
    ErrServiceAccountAlreadyExists (400, errutil body); an unknown role
    ErrServiceAccountInvalidRole; SearchOrgServiceAccountsWithPaging matches
    the name, login or email and pages."""
    g = fresh()
    created = service_account(g, "Desk Writer")
    assert created == {
        "id": created["id"],
        "uid": created["uid"],
        "name": "Desk Writer",
        "login": "sa-1-desk-writer",
        "orgId": 1,
        "isDisabled": False,
        "role": "None",
        "tokens": 0,
        "avatarUrl": "",
    }
    assert created["id"] > 1 and created["uid"]
    assert call(g, "POST", "/api/serviceaccounts", {"name": "desk writer"}) == (
        400,
        {
            "statusCode": 400,
            "messageId": "serviceaccounts.ErrAlreadyExists",
            "message": "service account already exists",
        },
    )
    status, doc = call(g, "POST", "/api/serviceaccounts", {"name": "x", "role": "Boss"})
    assert (status, doc["messageId"], doc["message"]) == (
        400,
        "serviceaccounts.ErrInvalidRoleSpecified",
        "invalid role specified",
    )
    assert call(g, "POST", "/api/serviceaccounts", {"role": "None"}) == (
        400,
        {"message": "Bad request data"},
    )
    viewer = service_account(g, "reporting", role="Viewer")
    status, found = call(g, "GET", "/api/serviceaccounts/search?query=DESK&perpage=10")
    assert status == 200
    assert (found["totalCount"], found["page"], found["perPage"]) == (1, 1, 10)
    (hit,) = found["serviceAccounts"]
    assert (hit["id"], hit["login"], hit["role"], hit["tokens"]) == (
        created["id"],
        "sa-1-desk-writer",
        "None",
        0,
    )
    expected_avatar = hashlib.md5(b"deskwriter@localhost").hexdigest()
    assert hit["avatarUrl"] == f"/avatar/{expected_avatar}"
    status, page2 = call(g, "GET", "/api/serviceaccounts/search?perpage=1&page=2")
    assert status == 200 and page2["totalCount"] == 2
    assert [a["id"] for a in page2["serviceAccounts"]] == [viewer["id"]]


def test_only_org_admins_manage_service_accounts(fresh: Callable[..., Grafana]) -> None:
    """The routes need serviceaccounts:* (the org Admin role): a signed-in Viewer
    and a role-None account get the middleware's 403."""
    g = fresh()
    g.api().admin.create_user(
        {"name": "Vera", "email": "vera@example.org", "login": "vera", "password": "vera-pass-1"}
    )
    form = json.dumps({"user": "vera", "password": "vera-pass-1"}).encode()
    _, headers, _ = g.request("POST", "/login", JSON, form)
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    body = {"name": "sneaky"}
    assert denied(
        call(g, "POST", "/api/serviceaccounts", body, cookie=cookie), "serviceaccounts:create"
    )
    assert denied(
        call(g, "GET", "/api/serviceaccounts/search", cookie=cookie), "serviceaccounts:read"
    )
    _, token = desk_writer(g)
    assert denied(
        call(g, "POST", "/api/serviceaccounts", body, token=token), "serviceaccounts:create"
    )
    assert denied(
        call(g, "POST", "/api/serviceaccounts/2/tokens", body, token=token), "serviceaccounts:write"
    )


def test_a_token_authenticates_and_only_its_hash_is_stored(fresh: Callable[..., Grafana]) -> None:
    """CreateToken: 200 {id, name, key}, the key satokengen's
    glsa_<32 alphanumerics>_<CRC-32 of gl+sa_+secret, little-endian hex>;
    api_key.key holds util.EncodePassword(secret, checksum) only. The key
    authenticates as Bearer (and as basic auth with the user api_key);
    GetSignedInUser answers a service account with its identity only. It cannot
    sign in with a password. ListTokens lists the tokens without their key."""
    g = fresh()
    account = service_account(g, "desk writer")
    made = token_for(g, account["id"], "first")
    key = made["key"]
    found = re.fullmatch(r"glsa_([0-9A-Za-z]{32})_([0-9a-f]{8})", key)
    assert found and set(made) == {"id", "name", "key"} and made["name"] == "first"
    secret, checksum = found.groups()
    crc = binascii.crc32(f"glsa_{secret}".encode()).to_bytes(4, "little").hex()
    assert checksum == crc
    (db_file,) = (g.base / "data").glob("*.db")
    with sqlite3.connect(db_file) as db:
        rows = db.execute("SELECT key, service_account_id FROM api_key").fetchall()
    hashed = hashlib.pbkdf2_hmac("sha256", secret.encode(), checksum.encode(), 10000, 50).hex()
    assert rows == [(hashed, account["id"])]
    assert secret.encode() not in db_file.read_bytes()

    status, me = call(g, "GET", "/api/user", token=key)
    assert status == 200
    assert (me["id"], me["uid"], me["login"], me["email"], me["name"]) == (
        0,
        f"service-account:{account['id']}",
        "sa-1-desk-writer",
        "sa-1-desk-writer",
        "desk writer",
    )
    assert me["isGrafanaAdmin"] is False and me["orgId"] == 1
    basic = "Basic " + base64.b64encode(f"api_key:{key}".encode()).decode()
    status, _, raw = g.request("GET", "/api/user", {"Authorization": basic})
    assert status == 200 and json.loads(raw)["uid"] == f"service-account:{account['id']}"

    form = json.dumps({"user": "sa-1-desk-writer", "password": secret}).encode()
    assert g.request("POST", "/login", JSON, form)[0] == 401

    token_for(g, account["id"], "second")
    status, listed = call(g, "GET", f"/api/serviceaccounts/{account['id']}/tokens")
    assert status == 200
    assert [t["name"] for t in listed] == ["first", "second"]
    assert all("key" not in t for t in listed)
    assert listed[0]["hasExpired"] is False and listed[0]["expiration"] is None
    assert listed[0]["lastUsedAt"] is not None  # the requests above used it
    status, doc = call(g, "POST", f"/api/serviceaccounts/{account['id']}/tokens", {"name": "first"})
    assert (status, doc["messageId"]) == (400, "serviceaccounts.ErrTokenAlreadyExists")
    assert call(g, "POST", "/api/serviceaccounts/999/tokens", {"name": "x"}) == (
        404,
        {
            "statusCode": 404,
            "messageId": "serviceaccounts.ErrNotFound",
            "message": "service account not found",
        },
    )


def test_a_deleted_token_is_refused(fresh: Callable[..., Grafana]) -> None:
    """DeleteToken: 200 "Service account token deleted", then the key is unknown:
    the API key client's api-key.invalid (401, written by notAuthorized); a
    second delete is ErrServiceAccountTokenNotFound (404); a key that is not one
    is refused alike. The account's other tokens still work."""
    g = fresh()
    account = service_account(g, "desk writer")
    old = token_for(g, account["id"], "old")
    new = token_for(g, account["id"], "new")
    assert call(g, "GET", "/api/user", token=old["key"])[0] == 200
    path = f"/api/serviceaccounts/{account['id']}/tokens/{old['id']}"
    assert call(g, "DELETE", path) == (200, {"message": "Service account token deleted"})
    assert call(g, "GET", "/api/user", token=old["key"]) == (401, INVALID_KEY)
    assert call(g, "GET", "/api/search", token=old["key"]) == (401, INVALID_KEY)
    assert call(g, "DELETE", path) == (
        404,
        {
            "statusCode": 404,
            "messageId": "serviceaccounts.ErrTokenNotFound",
            "message": "service account token not found",
        },
    )
    assert call(g, "GET", "/api/user", token="glsa_not_a-key") == (401, INVALID_KEY)
    assert call(g, "GET", "/api/user", token=new["key"])[0] == 200


def test_a_disabled_account_is_refused(fresh: Callable[..., Grafana]) -> None:
    """UpdateServiceAccount {isDisabled: true}: authnimpl refuses the disabled
    identity (identity.disabled, 401); enabled again, the token works."""
    g = fresh()
    account, token = desk_writer(g)
    path = f"/api/serviceaccounts/{account['id']}"
    status, updated = call(g, "PATCH", path, {"isDisabled": True})
    assert status == 200 and updated["message"] == "Service account updated"
    assert updated["serviceaccount"]["isDisabled"] is True
    status, doc = call(g, "GET", "/api/user", token=token)
    assert (status, doc["messageId"], doc["message"]) == (401, "identity.disabled", "Unauthorized")
    call(g, "PATCH", path, {"isDisabled": False, "role": "None"})
    assert call(g, "GET", "/api/user", token=token)[0] == 200


# --------------------------------------------------------------------------- folders


def test_folders_create_get_and_refuse_bad_uids(fresh: Callable[..., Grafana]) -> None:
    """CreateFolder / GetFolderByUID: the folder with parentUid and its parents;
    a taken uid 409, illegal characters or more than 40 400, no title 400; an
    unknown folder 404 {"message": "folder not found", "status": "not-found"}."""
    g = fresh()
    top = folder(g, "desks", "Desks")
    assert (top["uid"], top["title"], top["url"], top["createdBy"], top["version"]) == (
        "desks",
        "Desks",
        "/dashboards/f/desks/desks",
        ADMIN,
        1,
    )
    assert "parentUid" not in top and "parents" not in top
    assert top["canAdmin"] is True
    child = folder(g, "alice", "Alice", parent="desks")
    assert child["parentUid"] == "desks"
    assert [p["uid"] for p in child["parents"]] == ["desks"]
    status, again = call(g, "GET", "/api/folders/alice")
    assert status == 200 and again["parentUid"] == "desks" and again["title"] == "Alice"
    assert call(g, "POST", "/api/folders", {"uid": "desks", "title": "Other"}) == (
        409,
        {"message": "a folder/dashboard with the same uid already exists"},
    )
    assert call(g, "POST", "/api/folders", {"uid": "a b", "title": "x"}) == (
        400,
        {"message": "uid contains illegal characters"},
    )
    assert call(g, "POST", "/api/folders", {"uid": "u" * 41, "title": "x"}) == (
        400,
        {"message": "uid too long, max 40 characters"},
    )
    assert call(g, "POST", "/api/folders", {"uid": "notitle"}) == (
        400,
        {"message": "folder title cannot be empty"},
    )
    generated = folder(g, "", "Same title")
    assert re.fullmatch(r"[0-9a-f]{14}", generated["uid"])
    assert folder(g, "", "Same title")["uid"] != generated["uid"]  # titles need not be unique
    assert call(g, "GET", "/api/folders/nope") == (
        404,
        {"message": "folder not found", "status": "not-found"},
    )


def test_deleting_a_folder_deletes_what_it_holds(fresh: Callable[..., Grafana]) -> None:
    """DeleteFolder: the folder, its subfolders and their dashboards; 200
    {"message": "Folder deleted"}."""
    g = fresh()
    folder(g, "desks", "Desks")
    folder(g, "alice", "Alice", parent="desks")
    folder(g, "deeper", "Deeper", parent="alice")
    assert (
        call(g, "POST", "/api/dashboards/db", dashboard("A", "dash-a", folderUid="deeper"))[0]
        == 200
    )
    assert call(g, "POST", "/api/dashboards/db", dashboard("Kept", "kept"))[0] == 200
    assert call(g, "DELETE", "/api/folders/alice") == (200, {"message": "Folder deleted"})
    for gone in ("alice", "deeper"):
        assert call(g, "GET", f"/api/folders/{gone}")[0] == 404
    assert call(g, "GET", "/api/dashboards/uid/dash-a") == (404, {"message": "Dashboard not found"})
    assert call(g, "GET", "/api/folders/desks")[0] == 200
    assert call(g, "GET", "/api/dashboards/uid/kept")[0] == 200
    assert call(g, "DELETE", "/api/folders/alice") == (
        404,
        {"message": "folder not found", "status": "not-found"},
    )


# --------------------------------------------------------------------------- folder permissions


def test_folder_permissions_defaults_grant_and_list(fresh: Callable[..., Grafana]) -> None:
    """setDefaultFolderPermissions: the creating user Admin, a root folder Editor
    Edit and Viewer View (a subfolder inherits); setUserPermission for a service
    account; getPermissions lists them (isServiceAccount, isInherited) and OSS's
    Admin basic role; an unknown permission is ErrInvalidPermission."""
    g = fresh()
    folder(g, "desks", "Desks")
    folder(g, "alice", "Alice", parent="desks")
    account = service_account(g, "desk writer")
    status, listed = call(g, "GET", "/api/access-control/folders/desks")
    assert status == 200
    assert [(p.get("userId"), p.get("builtInRole"), p["permission"]) for p in listed] == [
        (1, None, "Admin"),
        (None, "Editor", "Edit"),
        (None, "Viewer", "View"),
        (None, "Admin", "Admin"),
    ]
    assert listed[1]["roleName"] == "managed:builtins:editor:permissions"
    path = f"/api/access-control/folders/desks/users/{account['id']}"
    assert call(g, "POST", path, {"permission": "Edit"}) == (200, {"message": "Permission updated"})
    status, listed = call(g, "GET", "/api/access-control/folders/alice")
    mine = [p for p in listed if p.get("userId") == account["id"]]
    assert len(mine) == 1
    assert mine[0]["isServiceAccount"] is True and mine[0]["isInherited"] is True
    assert mine[0]["permission"] == "Edit" and mine[0]["userLogin"] == "sa-1-desk-writer"
    assert mine[0]["roleName"] == f"managed:users:{account['id']}:permissions"
    assert "folders:create" in mine[0]["actions"] and "dashboards:write" in mine[0]["actions"]
    assert "folders.permissions:write" not in mine[0]["actions"]
    assert call(g, "POST", path, {"permission": "Owner"}) == (
        400,
        {
            "statusCode": 400,
            "messageId": "resourcePermissions.invalidPermission",
            "message": "Permission [Owner] is invalid for this resource type",
            "extra": {"permission": "Owner"},
        },
    )
    assert call(g, "POST", path, {"permission": ""}) == (200, {"message": "Permission removed"})
    status, listed = call(g, "GET", "/api/access-control/folders/desks")
    assert all(p.get("userId") != account["id"] for p in listed)


# --------------------------------------------------------------------------- a role-None account


@pytest.mark.parametrize("permission", ["Edit", "Admin"])
def test_a_role_none_account_works_inside_its_folder(
    fresh: Callable[..., Grafana], permission: str
) -> None:
    """Edit (or Admin) on a folder carries folders:create there (the folders:edit
    action set) and the dashboard actions, inherited by its subfolders: the
    account creates a subfolder, saves a dashboard in it (folderUid stored and
    answered), reads it, finds it by folder, deletes it (200 {title, message,
    uid}; again: the middleware's 404 for a dashboard that does not exist)."""
    g = fresh()
    _, token = desk_writer(g, permission)
    status, sub = call(
        g,
        "POST",
        "/api/folders",
        {"uid": "alice", "title": "Alice", "parentUid": "desks"},
        token=token,
    )
    assert status == 200, sub
    assert (sub["parentUid"], sub["createdBy"], sub["canEdit"], sub["canAdmin"]) == (
        "desks",
        "sa-1-desk-writer",
        True,
        permission == "Admin",
    )
    status, saved = call(
        g,
        "POST",
        "/api/dashboards/db",
        dashboard("Watchlist", "alice-w1", folderUid="alice"),
        token=token,
    )
    assert status == 200, saved
    assert (saved["uid"], saved["folderUid"], saved["status"], saved["version"]) == (
        "alice-w1",
        "alice",
        "success",
        1,
    )
    status, got = call(g, "GET", "/api/dashboards/uid/alice-w1", token=token)
    assert status == 200
    assert (got["meta"]["folderUid"], got["meta"]["folderTitle"], got["meta"]["folderUrl"]) == (
        "alice",
        "Alice",
        "/dashboards/f/alice/alice",
    )
    assert got["dashboard"]["title"] == "Watchlist"
    status, hits = call(g, "GET", "/api/search?folderUIDs=alice&type=dash-db", token=token)
    assert status == 200
    assert [(h["uid"], h["type"], h["folderUid"]) for h in hits] == [
        ("alice-w1", "dash-db", "alice")
    ]
    status, folders = call(g, "GET", "/api/search?type=dash-folder", token=token)
    assert [h["uid"] for h in folders] == ["alice", "desks"]
    assert call(g, "GET", "/api/folders/alice", token=token)[0] == 200
    assert call(g, "DELETE", "/api/dashboards/uid/alice-w1", token=token) == (
        200,
        {"message": "Dashboard Watchlist deleted", "title": "Watchlist", "uid": "alice-w1"},
    )
    assert call(g, "DELETE", "/api/dashboards/uid/alice-w1", token=token) == (
        404,
        {"message": "Dashboard not found", "title": "Not found"},
    )
    assert call(g, "DELETE", "/api/folders/alice", token=token) == (
        200,
        {"message": "Folder deleted"},
    )
    assert call(g, "GET", "/api/folders/alice")[0] == 404


def test_a_role_none_account_is_refused_outside_its_folder(fresh: Callable[..., Grafana]) -> None:
    """Outside its folders the account holds nothing: a root folder is
    ErrFolderCreationAccessDenied (403), so is a subfolder of another folder; a
    dashboard there is ErrDashboardUpdateAccessDenied; another folder or
    dashboard is the middleware's 403 (a folder that does not exist too: its
    scope resolves to no parent); an unknown folderUid is 400 folder not found;
    search hides the rest (the provisioned folder included); the admin keeps
    everything."""
    g = fresh()
    _, token = desk_writer(g)
    folder(g, "private", "Private")
    assert (
        call(g, "POST", "/api/dashboards/db", dashboard("Secret", "secret", folderUid="private"))[0]
        == 200
    )
    creation_denied = (
        403,
        {
            "statusCode": 403,
            "messageId": "folders.forbiddenCreation",
            "message": "not enough permissions to create a folder in the selected location",
        },
    )
    assert (
        call(g, "POST", "/api/folders", {"uid": "mine", "title": "Mine"}, token=token)
        == creation_denied
    )
    body = {"uid": "mine", "title": "Mine", "parentUid": "private"}
    assert call(g, "POST", "/api/folders", body, token=token) == creation_denied
    assert call(
        g, "POST", "/api/dashboards/db", dashboard("X", "x1", folderUid="private"), token=token
    ) == (
        403,
        {"message": "Access denied to save dashboard"},
    )
    assert call(g, "POST", "/api/dashboards/db", dashboard("X", "x2"), token=token) == (
        403,
        {"message": "Access denied to save dashboard"},
    )
    assert call(
        g, "POST", "/api/dashboards/db", dashboard("X", "x3", folderUid="nope"), token=token
    ) == (
        400,
        {"message": "folder not found"},
    )
    assert denied(call(g, "GET", "/api/folders/private", token=token), "folders:read")
    assert denied(call(g, "GET", "/api/folders/nope", token=token), "folders:read")
    assert denied(call(g, "DELETE", "/api/folders/private", token=token), "folders:delete")
    assert denied(call(g, "GET", "/api/dashboards/uid/secret", token=token), "dashboards:read")
    assert denied(call(g, "DELETE", "/api/dashboards/uid/secret", token=token), "dashboards:delete")
    assert denied(
        call(g, "GET", "/api/access-control/folders/desks", token=token), "folders.permissions:read"
    )
    status, hits = call(g, "GET", "/api/search", token=token)
    assert status == 200 and [h["uid"] for h in hits] == ["desks"]
    assert call(g, "GET", "/api/dashboards/uid/secret")[0] == 200  # the admin
    assert call(g, "GET", "/api/folders/private")[0] == 200


def test_a_signed_in_viewer_views_but_does_not_write(fresh: Callable[..., Grafana]) -> None:
    """A created user is a Viewer of the org: View on the folders (the Viewer
    basic role's default permission, inherited), no folders:create nor
    dashboards:create anywhere."""
    g = fresh()
    folder(g, "desks", "Desks")
    folder(g, "alice", "Alice", parent="desks")
    assert (
        call(g, "POST", "/api/dashboards/db", dashboard("W", "alice-w", folderUid="alice"))[0]
        == 200
    )
    g.api().admin.create_user(
        {"name": "Vera", "email": "vera@example.org", "login": "vera", "password": "vera-pass-1"}
    )
    form = json.dumps({"user": "vera", "password": "vera-pass-1"}).encode()
    _, headers, _ = g.request("POST", "/login", JSON, form)
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    status, got = call(g, "GET", "/api/folders/alice", cookie=cookie)
    assert status == 200 and got["canEdit"] is False
    assert call(g, "GET", "/api/dashboards/uid/alice-w", cookie=cookie)[0] == 200
    status, hits = call(g, "GET", "/api/search?folderUIDs=alice", cookie=cookie)
    assert [h["uid"] for h in hits] == ["alice-w"]
    assert denied(
        call(
            g, "POST", "/api/dashboards/db", dashboard("V", "v1", folderUid="alice"), cookie=cookie
        ),
        "any of dashboards:create, dashboards:write",
    )
    body = {"uid": "v", "title": "V", "parentUid": "alice"}
    assert denied(call(g, "POST", "/api/folders", body, cookie=cookie), "folders:create")


# --------------------------------------------------------------------------- dashboards


def test_dashboards_in_folders_titles_and_deletion(fresh: Callable[..., Grafana]) -> None:
    """PostDashboard: two dashboards may share a title in a folder (the uid is the
    only unique key since grafana/grafana#90687, Grafana 11.3); a move needs
    create rights on the new folder; DeleteDashboardByUID answers {title,
    message, uid}, then 404 Dashboard not found."""
    g = fresh()
    folder(g, "desks", "Desks")
    first = call(g, "POST", "/api/dashboards/db", dashboard("Same", "same-1", folderUid="desks"))
    second = call(g, "POST", "/api/dashboards/db", dashboard("Same", "same-2", folderUid="desks"))
    assert first[0] == second[0] == 200 and first[1]["uid"] != second[1]["uid"]
    status, hits = call(g, "GET", "/api/search?folderUIDs=desks&query=same")
    assert status == 200 and sorted(h["uid"] for h in hits) == ["same-1", "same-2"]
    assert all(h["folderTitle"] == "Desks" for h in hits)
    moved = call(g, "POST", "/api/dashboards/db", dashboard("Same", "same-2"))
    assert moved[0] == 200 and moved[1]["folderUid"] == "" and moved[1]["version"] == 2
    assert call(g, "GET", "/api/dashboards/uid/same-2")[1]["meta"]["folderTitle"] == "General"
    assert call(g, "DELETE", "/api/dashboards/uid/same-1") == (
        200,
        {"message": "Dashboard Same deleted", "title": "Same", "uid": "same-1"},
    )
    assert call(g, "GET", "/api/dashboards/uid/same-1") == (404, {"message": "Dashboard not found"})
    assert call(g, "DELETE", "/api/dashboards/uid/same-1") == (
        404,
        {"message": "Dashboard not found"},
    )


# --------------------------------------------------------------------------- persistence


def test_accounts_tokens_folders_and_permissions_survive_a_restart(
    fresh: Callable[..., Grafana],
) -> None:
    """All of it is in grafana.db: after a restart the token still authenticates
    and the account still writes in its folder, and nowhere else."""
    g = fresh()
    account, token = desk_writer(g)
    folder(g, "private", "Private")
    g = contract.restart(g)
    try:
        status, found = call(g, "GET", "/api/serviceaccounts/search?query=desk")
        assert status == 200 and [a["id"] for a in found["serviceAccounts"]] == [account["id"]]
        assert found["serviceAccounts"][0]["tokens"] == 1
        status, sub = call(
            g,
            "POST",
            "/api/folders",
            {"uid": "bob", "title": "Bob", "parentUid": "desks"},
            token=token,
        )
        assert status == 200 and sub["parentUid"] == "desks"
        saved = call(
            g, "POST", "/api/dashboards/db", dashboard("B", "bob-1", folderUid="bob"), token=token
        )
        assert saved[0] == 200
        assert denied(call(g, "GET", "/api/folders/private", token=token), "folders:read")
    finally:
        contract.stop(g)


def test_an_earlier_grafana_db_gets_the_new_columns(fresh: Callable[..., Grafana]) -> None:
    """A grafana.db of the earlier double (dashboard without folder_uid, user
    without is_service_account/is_disabled): the rows are kept, the dashboard is
    at the root, users still sign in, service accounts can be added."""
    g = fresh()
    assert call(g, "POST", "/api/dashboards/db", dashboard("Old", "old-1"))[0] == 200
    (db_file,) = (g.base / "data").glob("*.db")
    contract.stop(g)
    with sqlite3.connect(db_file) as db:
        db.execute("ALTER TABLE dashboard DROP COLUMN folder_uid")
        db.execute("ALTER TABLE user DROP COLUMN is_service_account")
        db.execute("ALTER TABLE user DROP COLUMN is_disabled")
    g = contract.restart(g)
    try:
        status, got = call(g, "GET", "/api/dashboards/uid/old-1")
        assert status == 200 and got["meta"]["folderUid"] == ""
        assert call(g, "GET", "/api/user")[1]["id"] == 1
        account = service_account(g, "late writer")
        assert call(g, "GET", "/api/user", token=token_for(g, account["id"])["key"])[0] == 200
    finally:
        contract.stop(g)
