"""TEST DOUBLE for Grafana -- not Grafana.

Grafana cannot be obtained on the build machines (no registry, no package),
so the tests run this small stdlib HTTP server in its place. It answers the
parts of Grafana's interface that the stack touches from outside, the way
Grafana 12.4 (the version pinned in roles/grafana/defaults/main.yml) answers
them: README.md in this folder names, for every behaviour, the upstream file
(and test) it follows, and what is different.

Request handling follows Grafana's middleware order (pkg/api/http_server.go
addMiddlewaresAndStaticRoutes):

1. every response gets Grafana's default headers (no-store, X-Frame-Options,
   X-Content-Type-Options, X-XSS-Protection; HSTS when configured);
2. ``/healthz``, ``/api/health`` and ``/metrics`` (basic auth when grafana.ini
   sets both ``[metrics] basic_auth_username`` and ``basic_auth_password``)
   answer before authentication and without a Content-Security-Policy;
3. then authentication (a service account token as ``Bearer``; basic auth of
   the admin or of a user created through the API, with Grafana's brute-force
   lockout, or the session cookie of a user, refused with
   ``session.token.rotate`` once due for rotation) and, when enabled, the CSP
   of grafana.ini on every further response;
4. then the routes: ``GET /api/user`` (the signed-in user), ``POST
   /api/admin/provisioning/{dashboards,datasources,plugins,alerting}/reload``,
   ``POST /api/admin/users``, ``PUT /api/admin/users/:id/{password,permissions}``
   (Grafana Admins only: 403 otherwise), ``POST /api/user/auth-tokens/rotate``,
   ``/api/serviceaccounts`` (accounts and tokens, org Admins only),
   ``/api/folders`` (nested folders), ``/api/access-control/folders/:uid``
   (folder permissions), ``/api/dashboards/db``, ``/api/dashboards/uid/:uid``,
   ``GET /api/search`` (each checked against the identity's org role and
   folder permissions, inherited down nested folders), ``GET /api/live/ws``
   (WebSocket handshake, Origin checked), ``GET|POST /login``;
   anything else is Grafana's not-found handler, which requires a signed-in
   user first (401 JSON under /api, 302 to /login elsewhere).

Not Grafana, and labelled so: ``GET /``, ``/d/<uid>`` and ``/login`` serve a
page that lists the provisioned dashboards and says "TEST DOUBLE - NOT
GRAFANA"; ``/`` and ``/d/<uid>`` stand for what a signed-in browser gets, so
they answer without a login and hand the browser a session (Grafana would
redirect to /login first). ``GET /api/test-double/request`` reports what the
double received (client address, forwarded headers); ``POST
/api/test-double/age-sessions[?seconds=N]`` ages every session so that tests
need not wait for a rotation.

``server.py cli [--homepath H] [--config C] admin reset-admin-password
[--password-from-stdin] [--user-id N] [password]`` stands in for ``grafana
cli``: the test-double image installs a ``grafana`` shim that runs it.

Never shipped and never described as the real thing.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import contextlib
import dataclasses
import hashlib
import html
import json
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, unquote_plus, urlsplit

# Grafana 12.4.3 is the image the role pins; the double says it is a double.
VERSION = "12.4.3-testdouble"
COMMIT = "testdouble"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STATE_NAME = "test-double-admin-password"
PROVISIONING_KINDS = ("dashboards", "plugins", "datasources", "alerting")
ADMIN_ID = 1
LOGIN_ATTEMPTS_WINDOW = 5 * 60  # loginattemptimpl.loginAttemptsWindow
SESSION_EXPIRY_COOKIE = "grafana_session_expiry"  # authn.sessionExpiryCookie


def _paths() -> tuple[Path, Path, Path]:
    """grafana.ini, the provisioning folder, the data folder: GF_PATHS_* first, then
    grafana.ini's [paths] (pkg/setting/setting.go)."""
    config = Path(os.environ.get("GF_PATHS_CONFIG", "/etc/grafana/grafana.ini"))
    provisioning = os.environ.get("GF_PATHS_PROVISIONING") or _ini_at(config).get(
        "paths", "provisioning", fallback="/etc/grafana/provisioning"
    )
    data = os.environ.get("GF_PATHS_DATA") or _ini_at(config).get(
        "paths", "data", fallback="/var/lib/grafana"
    )
    return config, Path(provisioning), Path(data)


def _ini_at(config: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if config.is_file():
        with contextlib.suppress(configparser.Error):
            parser.read_string(config.read_text())
    return parser


# --------------------------------------------------------------------------- configuration


def _resolve(value: str) -> str:
    """Grafana's ``$__file{path}`` and ``$__env{NAME}`` expansions."""
    found = re.fullmatch(r"\$__file\{([^}]+)\}", value.strip())
    if found:
        path = Path(found.group(1))
        return path.read_text().strip() if path.is_file() else ""
    found = re.fullmatch(r"\$__env\{([^}]+)\}", value.strip())
    if found:
        return os.environ.get(found.group(1), "")
    return value


def ini() -> configparser.ConfigParser:
    return _ini_at(Path(os.environ.get("GF_PATHS_CONFIG", "/etc/grafana/grafana.ini")))


def setting(section: str, key: str, default: str = "") -> str:
    """A grafana.ini value; ``GF_<SECTION>_<KEY>`` (and ``__FILE``) overrides it,
    as pkg/setting/setting.go applyEnvVariableOverrides does."""
    env = "GF_" + re.sub(r"[.-]", "_", section).upper() + "_" + key.upper()
    if env + "__FILE" in os.environ:
        path = Path(os.environ[env + "__FILE"])
        return path.read_text().strip() if path.is_file() else ""
    if env in os.environ:
        return os.environ[env]
    value = ini().get(section, key, fallback=default)
    if value.startswith('"""') and value.endswith('"""'):
        value = value[3:-3]
    return _resolve(value)


def setting_bool(section: str, key: str, default: bool) -> bool:
    value = setting(section, key, "true" if default else "false").strip().lower()
    return value in ("1", "t", "true", "y", "yes", "on")


def admin_login() -> str:
    return setting("security", "admin_user", "admin")


# --------------------------------------------------------------------------- admin password


def _state_paths() -> list[Path]:
    # The data volume when it is writable; /tmp otherwise (the image may not
    # give the container user a writable data folder).
    _, _, data = _paths()
    return [data / STATE_NAME, Path("/tmp") / STATE_NAME]  # test double state


def admin_password() -> str:
    for path in _state_paths():
        if path.is_file():
            return path.read_text().strip()
    # Grafana reads admin_password only when it creates the admin (first start).
    return setting("security", "admin_password", "admin")


def set_admin_password(value: str) -> None:
    for path in _state_paths():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(value)
        except OSError:
            continue
        # A stale copy in the other place must not win over this one.
        for other in _state_paths():
            if other != path:
                with contextlib.suppress(OSError):
                    other.unlink()
        return
    raise OSError("no writable place for the admin password")


# --------------------------------------------------------------------------- server state


URGENT_ROTATE_TIME = 60  # usertoken.UrgentRotateTime
SKIP_ROTATION_TIME = 5  # authimpl.SkipRotationTime
ROTATION_LEEWAY = 5  # usertoken.rotationLeeway


@dataclass
class Session:
    """A row of Grafana's user_auth_token table (the columns the double uses)."""

    id: int
    user_id: int
    auth_token: str
    prev_auth_token: str
    auth_token_seen: bool
    seen_at: int
    rotated_at: int
    created_at: int

    def needs_rotation(self, interval_seconds: int) -> bool:
        """usertoken.UserToken.NeedsRotation."""
        now = time.time()
        if not self.auth_token_seen:
            return self.rotated_at < now - URGENT_ROTATE_TIME
        return self.rotated_at < now - interval_seconds


def _hash_token(token: str) -> str:
    """authimpl hashToken: sha256(token + secret_key), hex."""
    secret = setting("security", "secret_key", "SW2YcwTIb9zpOOhoPsMm")
    return hashlib.sha256((token + secret).encode()).hexdigest()


def rotation_interval_seconds() -> int:
    """[auth] token_rotation_interval_minutes (default 10, at least 2 in Grafana)."""
    try:
        minutes = int(setting("auth", "token_rotation_interval_minutes", "10"))
    except ValueError:
        minutes = 10
    return max(minutes, 2) * 60


class State:
    """What Grafana keeps in its database and that the double keeps in memory:
    failed login attempts and session tokens."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: list[tuple[str, str, float]] = []
        self.sessions: dict[int, Session] = {}
        self.next_session_id = 0

    def add_attempt(self, login: str, address: str) -> None:
        if setting_bool("security", "disable_brute_force_login_protection", False):
            return
        with self.lock:
            self.attempts.append((login.lower(), address, time.time()))

    def reset_attempts(self, login: str) -> None:
        with self.lock:
            self.attempts = [a for a in self.attempts if a[0] != login.lower()]

    def login_allowed(self, login: str) -> bool:
        """loginattemptimpl Validate: fewer than max attempts in the last 5 minutes."""
        if setting_bool("security", "disable_brute_force_login_protection", False):
            return True
        if setting_bool("security", "disable_username_login_protection", False):
            return True
        try:
            limit = int(setting("security", "brute_force_login_protection_max_attempts", "5"))
        except ValueError:
            limit = 5
        limit = max(limit, 1)
        since = time.time() - LOGIN_ATTEMPTS_WINDOW
        with self.lock:
            count = sum(1 for who, _, at in self.attempts if who == login.lower() and at >= since)
        return count < limit

    # ------------------------------------------------------------ sessions
    # pkg/services/auth/authimpl/auth_token.go (CreateToken, LookupToken /
    # validateToken, RotateToken, RevokeAllUserTokens) and
    # pkg/models/usertoken (NeedsRotation): one row per session, the token
    # hashed with the secret key, the previous token kept after a rotation.

    def new_session(self, user_id: int) -> str:
        token = secrets.token_hex(16)  # util.RandomHex(16)
        now = int(time.time())
        with self.lock:
            self.next_session_id += 1
            self.sessions[self.next_session_id] = Session(
                id=self.next_session_id,
                user_id=user_id,
                auth_token=_hash_token(token),
                prev_auth_token=_hash_token(token),
                auth_token_seen=False,
                seen_at=0,
                rotated_at=now,
                created_at=now,
            )
        return token

    def lookup_session_quiet(self, token: str) -> Session | None:
        hashed = _hash_token(token)
        with self.lock:
            for session in self.sessions.values():
                if session.auth_token == hashed:
                    return dataclasses.replace(session)
        return None

    def lookup_session(self, token: str) -> Session | None:
        """LookupToken: the current or the previous token of a session. The previous
        token presented more than UrgentRotateTime after a rotation whose new token
        was seen marks the session unseen (it then needs an urgent rotation)."""
        hashed = _hash_token(token)
        now = time.time()
        with self.lock:
            found = next(
                (s for s in self.sessions.values() if hashed in (s.auth_token, s.prev_auth_token)),
                None,
            )
            if found is None:
                return None
            if (
                found.auth_token != hashed
                and found.prev_auth_token == hashed
                and found.auth_token_seen
                and found.rotated_at < now - URGENT_ROTATE_TIME
            ):
                found.auth_token_seen = False
                found.rotated_at = int(now - URGENT_ROTATE_TIME)
            if not found.auth_token_seen and found.auth_token == hashed:
                found.auth_token_seen = True
                found.seen_at = int(now)
            return dataclasses.replace(found)

    def rotate_session(self, token: str) -> tuple[Session, str | None]:
        """RotateToken for a session LookupToken found: a new token unless the
        session was rotated less than SkipRotationTime (5 s) ago; the current
        token becomes the previous one (rotate_token.sql)."""
        hashed = _hash_token(token)
        now = time.time()
        with self.lock:
            found = next(
                s for s in self.sessions.values() if hashed in (s.auth_token, s.prev_auth_token)
            )
            if found.rotated_at + SKIP_ROTATION_TIME > now:
                return dataclasses.replace(found), None
            new_token = secrets.token_hex(16)
            found.seen_at = 0
            found.prev_auth_token = found.auth_token
            found.auth_token = _hash_token(new_token)
            found.auth_token_seen = False
            found.rotated_at = int(now)
            return dataclasses.replace(found), new_token

    def age_sessions(self, seconds: int) -> int:
        """TEST DOUBLE: move every session's clock back (created and rotated)."""
        with self.lock:
            for session in self.sessions.values():
                session.rotated_at -= seconds
                session.created_at -= seconds
            return len(self.sessions)

    def revoke_sessions(self, user_id: int) -> None:
        """RevokeAllUserTokens: that user's sessions only."""
        with self.lock:
            self.sessions = {k: v for k, v in self.sessions.items() if v.user_id != user_id}


STATE = State()


# --------------------------------------------------------------------------- database


class Store:
    """What Grafana keeps in its database and the project's backups must carry:
    users, their preferences, dashboards saved through the API. Like Grafana
    (grafana.ini [database] type = sqlite3, path = grafana.db, wal = true) it is
    an SQLite file in the data folder, in WAL mode, with tables named as
    Grafana's (`user`, `preferences`, `dashboard`; a subset of their columns).
    The admin is user 1. TEST DOUBLE: not Grafana's schema or migrations."""

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS user (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " uid TEXT NOT NULL UNIQUE, login TEXT NOT NULL UNIQUE, email TEXT NOT NULL UNIQUE,"
        " name TEXT NOT NULL DEFAULT '', password TEXT NOT NULL DEFAULT '',"
        " salt TEXT NOT NULL DEFAULT '', rands TEXT NOT NULL DEFAULT '',"
        " is_admin INTEGER NOT NULL DEFAULT 0, org_id INTEGER NOT NULL DEFAULT 1,"
        " created TEXT NOT NULL, updated TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS preferences (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " org_id INTEGER NOT NULL DEFAULT 1, user_id INTEGER NOT NULL UNIQUE,"
        " theme TEXT NOT NULL DEFAULT '', home_dashboard_uid TEXT NOT NULL DEFAULT '',"
        " timezone TEXT NOT NULL DEFAULT '', week_start TEXT NOT NULL DEFAULT '',"
        " updated TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS dashboard (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " uid TEXT NOT NULL UNIQUE, org_id INTEGER NOT NULL DEFAULT 1, title TEXT NOT NULL,"
        " slug TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,"
        " created_by INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,"
        " folder_uid TEXT NOT NULL DEFAULT '')",
        # Service accounts are rows of `user` (is_service_account = 1) with their
        # org role in `org_user` (serviceaccounts/database/store.go
        # CreateServiceAccount, userimpl CreateServiceAccount); their tokens are
        # rows of `api_key` holding only the hash (satokengen: PBKDF2 of the
        # secret, the checksum as salt).
        "CREATE TABLE IF NOT EXISTS org_user (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " org_id INTEGER NOT NULL DEFAULT 1, user_id INTEGER NOT NULL UNIQUE,"
        " role TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS api_key (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " org_id INTEGER NOT NULL DEFAULT 1, name TEXT NOT NULL, key TEXT NOT NULL UNIQUE,"
        " role TEXT NOT NULL DEFAULT 'Viewer', created TEXT NOT NULL, updated TEXT NOT NULL,"
        " last_used_at REAL, expires INTEGER, service_account_id INTEGER,"
        " is_revoked INTEGER NOT NULL DEFAULT 0, UNIQUE (org_id, name))",
        # Nested folders (folder_mig.go: uid, org_id, title, description,
        # parent_uid, created, updated) with who created and updated them.
        "CREATE TABLE IF NOT EXISTS folder (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " uid TEXT NOT NULL UNIQUE, org_id INTEGER NOT NULL DEFAULT 1, title TEXT NOT NULL,"
        " description TEXT NOT NULL DEFAULT '', parent_uid TEXT NOT NULL DEFAULT '',"
        " created TEXT NOT NULL, updated TEXT NOT NULL, created_by INTEGER NOT NULL DEFAULT -1,"
        " updated_by INTEGER NOT NULL DEFAULT -1, version INTEGER NOT NULL DEFAULT 1)",
        # TEST DOUBLE: the managed folder permissions in one table of the double's
        # own (Grafana keeps them as managed roles: role, permission, user_role,
        # builtin_role). One row per folder and user (or service account), or per
        # folder and basic role.
        "CREATE TABLE IF NOT EXISTS folder_permission (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " folder_uid TEXT NOT NULL, user_id INTEGER, builtin_role TEXT,"
        " permission TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,"
        " UNIQUE (folder_uid, user_id, builtin_role))",
    )

    def __init__(self) -> None:
        self.path: Path | None = None
        self.lock = threading.Lock()

    def open(self) -> None:
        _, _, data = _paths()
        # The data volume when it is writable (Grafana fails to start otherwise);
        # /tmp keeps the double usable where the contract gives it no volume.
        for folder in (data, Path("/tmp")):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                self.path = folder / (setting("database", "path", "grafana.db") or "grafana.db")
                with self.connect() as db:
                    db.execute("PRAGMA journal_mode=WAL")
                    for statement in self.SCHEMA:
                        db.execute(statement)
                    self.migrate(db)
                    now = _now()
                    db.execute(
                        "INSERT OR IGNORE INTO user (id, uid, login, email, is_admin, created, updated)"
                        " VALUES (?, 'testdouble-admin', ?, ?, 1, ?, ?)",
                        (
                            ADMIN_ID,
                            admin_login(),
                            setting("security", "admin_email", "admin@localhost"),
                            now,
                            now,
                        ),
                    )
                return
            except (OSError, sqlite3.Error):
                continue
        raise OSError("no writable place for the test double's grafana.db")

    @staticmethod
    def migrate(db: sqlite3.Connection) -> None:
        """Forward migration of a grafana.db written by an earlier double: the
        `salt` and `rands` columns of Grafana's user table (user_mig.go), a salt
        for every user without one. Rows are kept; a password stored before
        (an unsalted digest, not Grafana's hash) no longer matches, so such a
        user signs in again once an admin has set a password."""
        columns = {row[1] for row in db.execute("PRAGMA table_info(user)")}
        for column in ("salt", "rands"):
            if column not in columns:
                db.execute(f"ALTER TABLE user ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
        # Service accounts (user_mig.go: is_service_account, is_disabled) and the
        # dashboards' folder (dashboard_mig.go: folder_uid), added to a file of an
        # earlier double with their defaults.
        for column in ("is_service_account", "is_disabled"):
            if column not in columns:
                db.execute(f"ALTER TABLE user ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
        dash_columns = {row[1] for row in db.execute("PRAGMA table_info(dashboard)")}
        if "folder_uid" not in dash_columns:
            db.execute("ALTER TABLE dashboard ADD COLUMN folder_uid TEXT NOT NULL DEFAULT ''")
        for (user_id,) in db.execute("SELECT id FROM user WHERE salt = ''").fetchall():
            db.execute(
                "UPDATE user SET salt = ?, rands = ? WHERE id = ?",
                (random_string(10), random_string(10), user_id),
            )

    def connect(self) -> sqlite3.Connection:
        if self.path is None:
            self.open()
        assert self.path is not None
        db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def random_string(length: int) -> str:
    """util.GetRandomString: alphanumeric characters (user.Salt, user.Rands)."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(alphabet[b % len(alphabet)] for b in secrets.token_bytes(length))


def encode_password(password: str, salt: str) -> str:
    """util.EncodePassword: PBKDF2-HMAC-SHA256, 10000 iterations, 50 bytes, hex."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 10000, 50).hex()


STORE = Store()


# --------------------------------------------------------------------------- errors

INVALID_LOGIN = ("password-auth.failed", "Invalid username or password")
UNAUTHORIZED = ("auth.unauthorized", "Unauthorized")
# authn.ErrTokenNeedsRotation = errutil.Unauthorized("session.token.rotate"): no
# public message, so errutil's Public() uses the status text.
TOKEN_NEEDS_ROTATION = ("session.token.rotate", "Unauthorized")


class AuthError(Exception):
    """An errutil.Error of the authn service: messageId and public message, 401."""

    def __init__(self, message_id: str, message: str) -> None:
        super().__init__(message)
        self.message_id = message_id
        self.message = message


def go_json(doc: Any, indent: bool = False) -> bytes:
    """encoding/json: maps with sorted keys, <, > and & escaped; MarshalIndent with 2 spaces."""
    text = json.dumps(
        doc,
        ensure_ascii=False,
        separators=None if indent else (",", ":"),
        indent=2 if indent else None,
    )
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.encode()


# --------------------------------------------------------------------------- service accounts, folders, permissions
#
# Grafana 12.4's RBAC reduced to what the double's callers meet: an identity's
# org role, Grafana Admin flag, and the managed folder permissions (View, Edit,
# Admin) of users, service accounts and basic roles, inherited down nested
# folders.

API_KEY_INVALID = ("api-key.invalid", "Invalid API key")  # authn/clients/api_key.go
API_KEY_EXPIRED = ("api-key.expired", "Expired API key")
API_KEY_REVOKED = ("api-key.revoked", "Revoked API key")
# authnimpl/service.go errDisabledIdentity = errutil.Unauthorized("identity.disabled"):
# no public message, so Public() uses the status text.
IDENTITY_DISABLED = ("identity.disabled", "Unauthorized")

ORG_ROLES = ("None", "Viewer", "Editor", "Admin")  # org.RoleType.IsValid
SA_PREFIX = "sa-"  # serviceaccounts.ServiceAccountPrefix
SA_TOKEN_SERVICE = "sa"  # serviceaccounts/api/token.go ServiceID
GRAFANA_PREFIX = "gl"  # satokengen.GrafanaPrefix
LAST_USED_THROTTLE = 5 * 60  # clients/api_key.go shouldUpdateLastUsedAt

VIEW, EDIT, ADMIN = 1, 2, 3
PERMISSION_LEVELS = {"View": VIEW, "Edit": EDIT, "Admin": ADMIN}
LEVEL_NAMES = {level: name for name, level in PERMISSION_LEVELS.items()}
MAX_UID_LENGTH = 40  # util.MaxUIDLength
UID_PATTERN = re.compile(r"[a-zA-Z0-9\-_]*")  # util.IsValidShortUID

# ossaccesscontrol/folder.go FolderViewActions/FolderEditActions/FolderAdminActions
# with the dashboard actions each folder permission carries (getDashboard*Actions),
# and folders:create, which resourcepermissions ActionSetSvc.StoreActionSet adds to
# the folders:edit and folders:admin action sets.
_DASHBOARD_VIEW = ["dashboards:read", "annotations:read"]
_DASHBOARD_EDIT = [
    *_DASHBOARD_VIEW,
    "dashboards:write",
    "dashboards:delete",
    "annotations:write",
    "annotations:delete",
    "annotations:create",
]
_DASHBOARD_ADMIN = [*_DASHBOARD_EDIT, "dashboards.permissions:read", "dashboards.permissions:write"]
_FOLDER_VIEW = ["folders:read", "alert.rules:read", "library.panels:read", "alert.silences:read"]
_FOLDER_EDIT = [
    *_FOLDER_VIEW,
    "folders:write",
    "folders:delete",
    "folders:create",
    "dashboards:create",
    "alert.rules:create",
    "alert.rules:write",
    "alert.rules:delete",
    "alert.silences:create",
    "alert.silences:write",
    "library.panels:create",
    "library.panels:write",
    "library.panels:delete",
]
_FOLDER_ADMIN = [*_FOLDER_EDIT, "folders.permissions:read", "folders.permissions:write"]
FOLDER_ACTIONS = {
    VIEW: sorted(set(_DASHBOARD_VIEW + _FOLDER_VIEW)),
    EDIT: sorted(set(_DASHBOARD_EDIT + _FOLDER_EDIT)),
    ADMIN: sorted(set(_DASHBOARD_ADMIN + _FOLDER_ADMIN)),
}


@dataclass
class Identity:
    """The signed-in identity as the access checks see it."""

    id: int
    login: str
    name: str
    email: str
    uid: str
    is_service_account: bool
    role: str  # org role: None, Viewer, Editor, Admin
    grafana_admin: bool

    @property
    def full(self) -> bool:
        """Grafana Admin or org Admin: every folder and dashboard permission
        (fixed:folders:admin / fixed:dashboards roles on folders:* / dashboards:*)."""
        return self.grafana_admin or self.role == "Admin"


def identity_of(db: sqlite3.Connection, user_id: int) -> Identity | None:
    """The user or service account and its org role (org_user; the admin is the
    org's Admin, created users are Viewers, auto_assign_org_role's default)."""
    row = db.execute("SELECT * FROM user WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        return None
    org = db.execute("SELECT role FROM org_user WHERE user_id = ?", (user_id,)).fetchone()
    role = org["role"] if org else "Viewer"
    if row["is_admin"] or user_id == ADMIN_ID:
        role = "Admin"
    return Identity(
        id=int(row["id"]),
        login=str(row["login"]),
        name=str(row["name"]),
        email=str(row["email"]),
        uid=str(row["uid"]),
        is_service_account=bool(row["is_service_account"]),
        role=role,
        grafana_admin=bool(row["is_admin"]),
    )


def role_includes(role: str, wanted: str) -> bool:
    """org.RoleType.Includes: Admin > Editor > Viewer > None."""
    return ORG_ROLES.index(role) >= ORG_ROLES.index(wanted)


def folder_row(db: sqlite3.Connection, uid: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM folder WHERE uid = ?", (uid,)).fetchone()


def folder_chain(db: sqlite3.Connection, uid: str) -> list[sqlite3.Row]:
    """The folder, then its parents up to the root (GetParents, reversed)."""
    chain: list[sqlite3.Row] = []
    seen: set[str] = set()
    current = folder_row(db, uid)
    while current is not None and current["uid"] not in seen:
        chain.append(current)
        seen.add(current["uid"])
        current = folder_row(db, current["parent_uid"]) if current["parent_uid"] else None
    return chain


def folder_level(db: sqlite3.Connection, who: Identity, uid: str) -> int:
    """The identity's permission on a folder: the highest of its own managed
    permission and its basic role's on the folder or any parent folder
    (dashboards.NewFolderUIDScopeResolver / GetInheritedScopes: folders:uid:<uid>
    resolves to the folder's and its parents' scopes). 0 when none, or when the
    folder does not exist."""
    chain = folder_chain(db, uid)
    if not chain:
        return 0
    if who.full:
        return ADMIN
    level = 0
    for folder in chain:
        for perm in db.execute(
            "SELECT * FROM folder_permission WHERE folder_uid = ?", (folder["uid"],)
        ):
            mine = perm["user_id"] is not None and int(perm["user_id"]) == who.id
            by_role = bool(perm["builtin_role"]) and role_includes(who.role, perm["builtin_role"])
            if mine or by_role:
                level = max(level, PERMISSION_LEVELS.get(perm["permission"], 0))
    return level


def root_level(who: Identity) -> int:
    """Rights at the root (folders:uid:general): the basic roles' (Editor:
    folders:create and dashboards:create there; a root dashboard's default
    permissions give Viewer View and Editor Edit, SetDefaultPermissions)."""
    if who.full:
        return ADMIN
    return {"Editor": EDIT, "Viewer": VIEW}.get(who.role, 0)


def any_folder_level(db: sqlite3.Connection, who: Identity) -> int:
    """The best permission the identity holds on any folder, for the route checks
    that evaluate an action without a scope (EvalPermission(action) matches any)."""
    level = root_level(who)
    for (uid,) in db.execute("SELECT uid FROM folder").fetchall():
        if level == ADMIN:
            break
        level = max(level, folder_level(db, who, uid))
    return level


def dashboard_level(db: sqlite3.Connection, who: Identity, folder_uid: str) -> int:
    """A dashboard's scope resolves to its folder's (resolveDashboardScope); at the
    root, to folders:uid:general."""
    return folder_level(db, who, folder_uid) if folder_uid else root_level(who)


def folder_url(uid: str, title: str) -> str:
    """dashboards.GetFolderURL: /dashboards/f/<uid>/<slug>."""
    return f"/dashboards/f/{uid}/{slugify(title)}"


def descendants(db: sqlite3.Connection, uid: str) -> list[str]:
    """The folder and every folder under it."""
    found, todo = [], [uid]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.append(current)
        todo.extend(
            r[0] for r in db.execute("SELECT uid FROM folder WHERE parent_uid = ?", (current,))
        )
    return found


def sa_login(org_id: int, name: str) -> str:
    """serviceaccounts/database/store.go generateLogin(ServiceAccountPrefix, orgID,
    name): "sa-<org>-<lower-cased name>", the doubled dash replaced once, spaces
    replaced by dashes."""
    login = f"{SA_PREFIX}-{org_id}-{name.lower()}".replace("--", "-", 1)
    return login.replace(" ", "-")


def gravatar(email: str) -> str:
    """dtos.GetGravatarUrl: /avatar/ + md5 of the lower-cased text."""
    return "/avatar/" + hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


def gravatar_with_default(text: str, default: str) -> str:
    """dtos.GetGravatarUrlWithDefault: the text, else the default's alphanumerics @localhost."""
    if text:
        return gravatar(text)
    return gravatar(re.sub(r"[^a-zA-Z0-9]+", "", default) + "@localhost")


def _token_checksum(service_id: str, secret: str) -> str:
    """satokengen PrefixedKey.CalculateChecksum: CRC-32 (IEEE) of gl<service>_<secret>,
    its four bytes little-endian, hex."""
    value = binascii.crc32(f"{GRAFANA_PREFIX}{service_id}_{secret}".encode())
    return value.to_bytes(4, "little").hex()


def new_sa_token() -> tuple[str, str]:
    """satokengen.New("sa"): the client secret glsa_<32 alphanumerics>_<checksum> and
    the hash stored in api_key.key (util.EncodePassword(secret, checksum))."""
    secret = random_string(32)
    checksum = _token_checksum(SA_TOKEN_SERVICE, secret)
    return (
        f"{GRAFANA_PREFIX}{SA_TOKEN_SERVICE}_{secret}_{checksum}",
        encode_password(secret, checksum),
    )


def sa_token_hash(token: str) -> str | None:
    """satokengen.Decode then PrefixedKey.Hash; None when it is not such a key
    (ErrInvalidApiKey)."""
    if not token.startswith(GRAFANA_PREFIX):
        return None
    parts = token.split("_")
    if len(parts) != 3:
        return None
    service_id = parts[0][len(GRAFANA_PREFIX) :]
    if _token_checksum(service_id, parts[1]) != parts[2]:
        return None
    return encode_password(parts[1], parts[2])


def api_key_from_header(header: str) -> str | None:
    """clients/api_key.go getTokenFromRequest: Bearer <token>, or basic auth with
    the user name api_key."""
    if header.startswith("Bearer "):
        return header[len("Bearer ") :]
    credentials = _basic_credentials(header)
    if credentials is not None and credentials[0] == "api_key":
        return credentials[1]
    return None


def public_error(status: int, message_id: str, message: str, extra: Any = None) -> dict[str, Any]:
    """response.Err(errutil.Error): errutil.PublicError {statusCode, messageId,
    message, extra (omitted when empty)}."""
    doc: dict[str, Any] = {"statusCode": status, "messageId": message_id, "message": message}
    if extra:
        doc["extra"] = extra
    return doc


# --------------------------------------------------------------------------- provisioning


@dataclass
class Provider:
    name: str
    folder: str
    folder_uid: str
    path: Path


def providers() -> list[Provider]:
    """The file providers of provisioning/dashboards/*.yml (the keys the role writes)."""
    _, provisioning, _ = _paths()
    found = []
    for provider_file in sorted((provisioning / "dashboards").glob("*.y*ml")):
        text = provider_file.read_text()
        for block in re.split(r"\n\s*-\s+name:", "\n" + text)[1:]:
            values = {}
            for key in ("folder", "folderUid", "path"):
                match = re.search(rf"^\s*{key}:\s*['\"]?([^'\"\n]*)", block, re.MULTILINE)
                values[key] = match.group(1).strip() if match else ""
            name = block.splitlines()[0].strip().strip("'\"")
            found.append(
                Provider(name, values["folder"], values["folderUid"], Path(values["path"]))
            )
    return found


def _provisioned_files() -> Iterator[tuple[Provider, Path, dict[str, Any]]]:
    """(provider, file, model) of every dashboard the file providers reach, like
    Grafana reads them (unreadable or non-object files skipped)."""
    for provider in providers():
        folder = provider.path
        for dash in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
            try:
                model = json.loads(dash.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(model, dict):
                yield provider, dash, model


def provisioned_dashboards() -> list[tuple[Provider, dict[str, Any]]]:
    """Dashboards reachable through the file providers, with their provider."""
    return [(provider, model) for provider, _, model in _provisioned_files()]


def provisioned_dashboard(uid: str) -> tuple[Provider, Path, dict[str, Any]] | None:
    """The provisioned dashboard of this uid: its provider, file and model."""
    return next((found for found in _provisioned_files() if found[2].get("uid") == uid), None)


def provisioned_view(
    provider: Provider, path: Path, model: dict[str, Any], *, level: int
) -> dict[str, Any]:
    """GetDashboard (pkg/api/dashboard.go, v12.4.3) of a file-provisioned dashboard:
    meta.provisioned (the role's providers set allowUiUpdates: false) and
    meta.provisionedExternalId, the file relative to the provider's path; the
    provider's folder. Viewers may see it (the provisioned folder's defaults)."""
    title = str(model.get("title", ""))
    folder_uid = provider.folder_uid if provider.folder else ""
    return {
        "dashboard": model,
        "meta": {
            "slug": slugify(title),
            "url": f"/d/{model.get('uid')}/{slugify(title)}",
            "provisioned": True,
            "provisionedExternalId": str(path.relative_to(provider.path)),
            "canSave": level >= EDIT,
            "canEdit": level >= EDIT,
            "canAdmin": level >= ADMIN,
            "canDelete": level >= EDIT,
            "folderUid": folder_uid,
            "folderTitle": provider.folder or "General",
            "folderUrl": f"/dashboards/f/{folder_uid}/{slugify(provider.folder)}"
            if provider.folder
            else "",
        },
    }


def slugify(title: str) -> str:
    """pkg/infra/slugify, for ASCII titles: lower case, runs of other characters to '-'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def search_hits(
    query: dict[str, list[str]],
    stored: Sequence[dict[str, Any]] = (),
    provisioned: bool = True,
) -> list[dict[str, Any]]:
    """pkg/api/search.go Search over the provisioned folders and dashboards (when
    the identity may see them) and the `stored` hits: the folders and dashboards
    created through the API that the identity may view."""
    hits: list[dict[str, Any]] = []
    folders: dict[str, dict[str, Any]] = {}
    for provider, model in provisioned_dashboards() if provisioned else []:
        if provider.folder and provider.folder_uid not in folders:
            uid = provider.folder_uid
            folders[uid] = {
                "id": len(folders) + 1,
                "uid": uid,
                "orgId": 1,
                "title": provider.folder,
                "uri": f"db/{slugify(provider.folder)}",
                "url": f"/dashboards/f/{uid}/{slugify(provider.folder)}",
                "slug": "",
                "type": "dash-folder",
                "tags": [],
                "isStarred": False,
                "sortMeta": 0,
                "isDeleted": False,
            }
        title = str(model.get("title", ""))
        hit = {
            "id": 1000 + len(hits),
            "uid": model.get("uid"),
            "orgId": 1,
            "title": title,
            "uri": f"db/{slugify(title)}",
            "url": f"/d/{model.get('uid')}/{slugify(title)}",
            "slug": "",
            "type": "dash-db",
            "tags": list(model.get("tags") or []),
            "isStarred": False,
            "sortMeta": 0,
            "isDeleted": False,
        }
        if provider.folder:
            hit.update(
                folderUid=provider.folder_uid,
                folderTitle=provider.folder,
                folderUrl=folders[provider.folder_uid]["url"],
            )
        hits.append(hit)
    found = list(folders.values()) + hits + list(stored)
    text = query.get("query", [""])[0].lower()
    kind = query.get("type", [""])[0]
    tags = query.get("tag", [])
    uids = query.get("dashboardUIDs", []) or query.get("dashboardUID", [])
    folder_uids = query.get("folderUIDs", [])
    found = [
        h
        for h in found
        if text in h["title"].lower()
        and (not kind or h["type"] == kind)
        and all(t in h["tags"] for t in tags)
        and (not uids or h["uid"] in uids)
        and (not folder_uids or h.get("folderUid", "general") in folder_uids)
    ]
    found.sort(key=lambda h: (h["type"] != "dash-folder", h["title"].lower()))
    return found


# --------------------------------------------------------------------------- pages

PAGE_SCRIPT = """
document.getElementById('csp-nonce').textContent = 'nonce script ran';
var live = document.getElementById('live-ws');
try {
  var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/live/ws');
  ws.onopen = function () { live.textContent = 'websocket open'; };
  ws.onerror = function () { if (live.textContent !== 'websocket open') { live.textContent = 'websocket error'; } };
} catch (e) { live.textContent = 'websocket blocked: ' + e; }
"""


def _page(title: str, body: str, nonce: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - TEST DOUBLE</title><style>"
        "body{background:#000;color:#ffb000;font-family:monospace;margin:1em}"
        ".banner{background:#b00;color:#fff;padding:.5em;font-weight:bold}"
        ".checks{color:#0f0}"
        "a{color:#ffd479}.panel{display:inline-block;border:1px solid #333;margin:4px;"
        "padding:6px;min-width:14em;color:#ddd}</style></head><body>"
        "<div class='banner'>TEST DOUBLE - NOT GRAFANA: this page stands in for Grafana in offline tests."
        "</div><p class='checks'>CSP: <span id='csp-nonce'>nonce script did not run</span>"
        " | inline script without nonce: <span id='csp-inline'>blocked</span>"
        " | Grafana Live: <span id='live-ws'>websocket not tried</span></p>"
        + body
        + f"<script nonce='{nonce}'>{PAGE_SCRIPT}</script>"
        "<script>document.getElementById('csp-inline').textContent = 'RAN (policy not enforced)';"
        "</script></body></html>"
    ).encode()


def generate_nonce() -> str:
    """middleware.GenerateNonce: 16 random bytes, base64.RawStdEncoding."""
    return base64.b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def content_security_policy(nonce: str) -> dict[str, str]:
    """pkg/middleware/csp.go: the templates with $NONCE and $ROOT_PATH replaced."""
    root_path = re.sub(r"^\w+:(//)?", "", setting("server", "root_url", ""))
    headers = {}
    for enabled, template, header in (
        (
            "content_security_policy",
            "content_security_policy_template",
            "Content-Security-Policy",
        ),
        (
            "content_security_policy_report_only",
            "content_security_policy_report_only_template",
            "Content-Security-Policy-Report-Only",
        ),
    ):
        if setting_bool("security", enabled, False):
            policy = setting("security", template).replace("$NONCE", f"'nonce-{nonce}'")
            headers[header] = policy.replace("$ROOT_PATH", root_path)
    return headers


def default_headers() -> dict[str, str]:
    """pkg/middleware/middleware.go AddDefaultResponseHeaders."""
    headers = {"Cache-Control": "no-store"}
    if not setting_bool("security", "allow_embedding", False):
        headers["X-Frame-Options"] = "deny"
    if setting_bool("security", "strict_transport_security", False):
        value = (
            f"max-age={setting('security', 'strict_transport_security_max_age_seconds', '86400')}"
        )
        if setting_bool("security", "strict_transport_security_preload", False):
            value += "; preload"
        if setting_bool("security", "strict_transport_security_subdomains", False):
            value += "; includeSubDomains"
        headers["Strict-Transport-Security"] = value
    if setting_bool("security", "x_content_type_options", True):
        headers["X-Content-Type-Options"] = "nosniff"
    if setting_bool("security", "x_xss_protection", True):
        headers["X-XSS-Protection"] = "1; mode=block"
    return headers


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """net/http Request.BasicAuth: None when the header is not basic auth."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    if ":" not in decoded:
        return None
    user, _, password = decoded.partition(":")
    return user, password


class Handler(BaseHTTPRequestHandler):
    server_version = "grafana-test-double/1"
    _headers: dict[str, str]
    _body: bytes
    _user_id: int = 0

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet, one line per request
        print(json.dumps({"double": "grafana", "request": fmt % args}), flush=True)

    # ---------------------------------------------------------------- responses

    def _send(
        self,
        code: int,
        body: bytes,
        ctype: str | None = "application/json",
        headers: dict[str, str] | None = None,
        cookies: Sequence[str] = (),
    ) -> None:
        self.send_response(code)
        merged = {**self._headers, **(headers or {})}
        if ctype:
            merged["Content-Type"] = ctype
        for name, value in merged.items():
            self.send_header(name, value)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, doc: Any, cookies: Sequence[str] = ()) -> None:
        """web.Context.JSON: compact encoding/json, application/json; charset=UTF-8."""
        self._send(code, go_json(doc), "application/json; charset=UTF-8", cookies=cookies)

    def _api_error(self, code: int, message: str) -> None:
        """response.Error / ReqContext.JsonApiErr without an error: {"message": ...}."""
        self._json(code, {"message": message})

    def _auth_error(self, error: AuthError | None) -> None:
        """ReqContext.WriteErrOrFallback(401, "Unauthorized", err) for an errutil.Error."""
        message_id, message = (
            (error.message_id, error.message) if error else ("auth.unauthorized", "Unauthorized")
        )
        self._json(
            401,
            {
                "extra": None,
                "message": message,
                "messageId": message_id,
                "statusCode": 401,
                "traceID": "",
            },
        )

    def _go_redirect(self, location: str, code: int = 302, cookies: Sequence[str] = ()) -> None:
        """net/http Redirect: an HTML body for GET and HEAD."""
        if self.command in ("GET", "HEAD"):
            status = {301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect"}[code]
            body = f'<a href="{html.escape(location)}">{status}</a>.\n\n'.encode()
            self._send(
                code, body, "text/html; charset=utf-8", {"Location": location}, cookies=cookies
            )
        else:
            self._send(code, b"", None, {"Location": location}, cookies=cookies)

    def _cookie(
        self, name: str, value: str, max_age: int | None = None, http_only: bool = True
    ) -> str:
        """pkg/middleware/cookies WriteCookie: Path=/, HttpOnly, Secure and SameSite from ini."""
        parts = [f"{name}={value}", "Path=/"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if http_only:
            parts.append("HttpOnly")
        if setting_bool("security", "cookie_secure", False):
            parts.append("Secure")
        samesite = setting("security", "cookie_samesite", "lax").lower()
        if samesite in ("lax", "strict", "none"):
            parts.append("SameSite=" + samesite.capitalize())
        return "; ".join(parts)

    # ---------------------------------------------------------------- authentication

    def _client_address(self) -> str:
        return self.client_address[0]

    def _authenticate(self) -> tuple[int | None, AuthError | None]:
        """The authn service: basic auth (password client) then the session cookie
        (clients/session.go: a token due for rotation is session.token.rotate,
        and the service does not try another client after it)."""
        error: AuthError | None = None
        header = self.headers.get("Authorization", "")
        token = api_key_from_header(header)
        if token is not None:
            # clients/api_key.go: the only client whose Test matches a bearer
            # token (or basic auth as api_key); its error is the answer.
            try:
                return self._token_login(token), None
            except AuthError as exc:
                return None, exc
        credentials = _basic_credentials(header)
        if credentials is not None and setting_bool("auth.basic", "enabled", True):
            try:
                return self._password_login(*credentials), None
            except AuthError as exc:
                error = exc
        token = self._session_cookie()
        if token is not None:
            session = STATE.lookup_session(token) if token else None
            if session is not None:
                if session.needs_rotation(rotation_interval_seconds()):
                    return None, AuthError(*TOKEN_NEEDS_ROTATION)
                return session.user_id, None
            error = error or AuthError("session.token.not-found", "Unauthorized")
        if error is None:
            error = AuthError(*UNAUTHORIZED)
        return None, error

    def _token_login(self, token: str) -> int:
        """clients/api_key.go Authenticate with a service account token: the key
        found by its hash (api_key.key), refused when unknown or deleted
        (api-key.invalid), expired, revoked, not a service account's; then
        authnimpl refuses a disabled identity (identity.disabled). The last-used
        time is written at most every 5 minutes (shouldUpdateLastUsedAt). Returns
        the service account's user id."""
        hashed = sa_token_hash(token)
        if hashed is None:
            raise AuthError(*API_KEY_INVALID)
        with STORE.connect() as db:
            key = db.execute("SELECT * FROM api_key WHERE key = ?", (hashed,)).fetchone()
            if key is None:
                raise AuthError(*API_KEY_INVALID)
            if key["expires"] is not None and key["expires"] <= time.time():
                raise AuthError(*API_KEY_EXPIRED)
            if key["is_revoked"]:
                raise AuthError(*API_KEY_REVOKED)
            owner = (
                db.execute(
                    "SELECT id, is_disabled FROM user WHERE id = ? AND is_service_account = 1",
                    (key["service_account_id"],),
                ).fetchone()
                if key["service_account_id"]
                else None
            )
            if owner is None:
                raise AuthError(*API_KEY_INVALID)
            if owner["is_disabled"]:
                raise AuthError(*IDENTITY_DISABLED)
            last_used = key["last_used_at"]
            if last_used is None or time.time() - last_used > LAST_USED_THROTTLE:
                with STORE.lock:
                    db.execute(
                        "UPDATE api_key SET last_used_at = ? WHERE id = ?", (time.time(), key["id"])
                    )
            return int(owner["id"])

    def _password_login(self, login: str, password: str) -> int:
        """pkg/services/authn/clients/password.go AuthenticatePassword, then the
        grafana client (clients/grafana.go): the user by login, else by email, the
        password hashed with the user's salt (util.EncodePassword). The admin's
        password is the one the double keeps in its own file. Returns the user id."""
        if not STATE.login_allowed(login):
            raise AuthError(*INVALID_LOGIN)
        if not password:
            raise AuthError(*INVALID_LOGIN)
        # Logins are case-insensitive (user.GetByLogin).
        if login.lower() == admin_login().lower():
            if password == admin_password():
                return ADMIN_ID
        else:
            with STORE.connect() as db:
                row = (
                    db.execute(
                        "SELECT id, password, salt FROM user WHERE lower(login) = lower(?)"
                        " AND is_service_account = 0 ORDER BY id",
                        (login,),
                    ).fetchone()
                    or db.execute(
                        "SELECT id, password, salt FROM user WHERE lower(email) = lower(?)"
                        " AND is_service_account = 0 ORDER BY id",
                        (login,),
                    ).fetchone()
                )
            if (
                row is not None
                and row["id"] != ADMIN_ID
                and row["salt"]
                and secrets.compare_digest(encode_password(password, row["salt"]), row["password"])
            ):
                return int(row["id"])
        STATE.add_attempt(login, self._client_address())
        raise AuthError(*INVALID_LOGIN)

    def _session_cookie(self) -> str | None:
        name = setting("auth", "login_cookie_name", "grafana_session")
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def _not_authorized(self, error: AuthError | None, path: str) -> None:
        """pkg/middleware/auth.go notAuthorized: JSON under /api, else 302 to /login."""
        if path.startswith("/api"):
            self._auth_error(error)
            return
        cookies = []
        uri = self.path
        if uri != "/":
            cookies.append(self._cookie("redirect_to", quote_plus(uri)))
        if error is not None and error.message_id == TOKEN_NEEDS_ROTATION[0]:
            self._go_redirect("/user/auth-tokens/rotate", cookies=cookies)
            return
        self._go_redirect("/login", cookies=cookies)

    # ---------------------------------------------------------------- dispatch

    def _dispatch(self) -> None:
        self._headers = default_headers()
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        path, method = parts.path, self.command
        query = parse_qs(parts.query, keep_blank_values=True)
        get_like = method in ("GET", "HEAD")
        # Monitoring endpoints: before the context handler, no CSP, no auth.
        if path == "/healthz" and get_like:
            self._send(200, b"Ok", "text/plain; charset=utf-8")
            return
        if path == "/api/health" and get_like:
            self._health()
            return
        if path == "/metrics" and method == "GET" and setting_bool("metrics", "enabled", True):
            self._metrics()
            return
        if path == "/api/test-double/request" and get_like:  # not a Grafana API
            self._json(
                200,
                {
                    "client_address": self._client_address(),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                },
            )
            return
        if path == "/api/test-double/age-sessions" and method == "POST":  # not a Grafana API
            self._age_sessions(query)
            return
        user_id, error = self._authenticate()
        self._user_id = user_id if user_id is not None else 0
        signed_in = user_id is not None
        nonce = generate_nonce()
        self._headers.update(content_security_policy(nonce))
        trimmed = path.rstrip("/") or "/"
        # Routes (pkg/api/api.go registerRoutes). GET routes answer HEAD too.
        if self._desk_routes(method, trimmed, query, signed_in, error, path):
            return
        if trimmed == "/api/user" and get_like:
            self._signed_in(signed_in, error, path, self._user)
        elif method == "POST" and (
            found := re.fullmatch(r"/api/admin/provisioning/([a-z]+)/reload", trimmed)
        ):
            kind = found.group(1)
            if kind in PROVISIONING_KINDS:
                self._signed_in(
                    signed_in, error, path, lambda: self._reload(kind), "provisioning:reload"
                )
            else:
                self._not_found(signed_in, error, path, nonce)
        elif method == "PUT" and (
            found := re.fullmatch(r"/api/admin/users/([^/]+)/password", trimmed)
        ):
            target = found.group(1)
            self._signed_in(
                signed_in, error, path, lambda: self._set_password(target), "users.password:write"
            )
        elif method == "PUT" and (
            found := re.fullmatch(r"/api/admin/users/([^/]+)/permissions", trimmed)
        ):
            target = found.group(1)
            self._signed_in(
                signed_in,
                error,
                path,
                lambda: self._set_permissions(target),
                "users.permissions:write",
                grafana_admin=True,
            )
        elif trimmed == "/api/admin/users" and method == "POST":
            self._signed_in(signed_in, error, path, self._create_user, "users:create")
        elif trimmed == "/api/users/lookup" and get_like:
            self._signed_in(signed_in, error, path, lambda: self._lookup_user(query), "users:read")
        elif trimmed == "/api/user/auth-tokens/rotate" and method == "POST":
            self._rotate_token()  # no ReqSignedIn (api.go)
        elif trimmed == "/user/auth-tokens/rotate" and get_like:
            self._rotate_token_redirect()
        elif trimmed == "/api/user/preferences" and (get_like or method == "PUT"):
            handler = self._get_preferences if get_like else self._put_preferences
            self._signed_in(signed_in, error, path, handler)
        elif trimmed == "/api/live/ws" and get_like:
            self._signed_in(signed_in, error, path, self._websocket)
        elif trimmed == "/login" and method == "POST":
            self._login_post()
        elif trimmed == "/login" and get_like:
            self._login_page(nonce)
        elif get_like and (trimmed == "/" or re.fullmatch(r"/d/[^/]+(/[^/]+)?", trimmed)):
            self._dashboards_page(trimmed, nonce, signed_in)
        else:
            self._not_found(signed_in, error, path, nonce)

    # BaseHTTPRequestHandler calls do_<METHOD>; every method goes through the
    # one dispatcher, which answers each as the real server does.
    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch  # noqa: N815

    def _signed_in(
        self,
        signed_in: bool,
        error: AuthError | None,
        path: str,
        handler: Any,
        action: str | None = None,
        grafana_admin: bool = False,
    ) -> None:
        """middleware.ReqSignedIn in front of a route; with `grafana_admin`,
        middleware.ReqGrafanaAdmin (auth.go accessForbidden: 403 "Permission
        denied"); with `action`, the access-control middleware
        (accesscontrol/middleware.go deny). The double's users hold every
        permission when they are Grafana Admins and none of these otherwise (a
        Viewer of org 1, auto_assign_org_role's default)."""
        if not signed_in:
            self._not_authorized(error, path)
            return
        if (grafana_admin or action) and not self._is_grafana_admin():
            if grafana_admin:
                self._api_error(403, "Permission denied")
            else:
                self._json(
                    403,
                    {
                        "accessErrorId": "ACE"
                        + "".join(secrets.choice("0123456789") for _ in range(10)),
                        "message": "You'll need additional permissions to perform this action."
                        f" Permissions needed: {action}",
                        "title": "Access denied",
                    },
                )
            return
        handler()

    def _is_grafana_admin(self) -> bool:
        with STORE.connect() as db:
            row = db.execute("SELECT is_admin FROM user WHERE id = ?", (self._user_id,)).fetchone()
        return bool(row and row["is_admin"])

    def _not_found(self, signed_in: bool, error: AuthError | None, path: str, nonce: str) -> None:
        """hs.web.NotFound(ReqSignedIn, NotFoundHandler): JSON under /api, the index page
        with 404 elsewhere."""
        if not signed_in:
            self._not_authorized(error, path)
        elif path.startswith("/api"):
            self._api_error(404, "Not found")
        else:
            self._send(404, _page("Not found", "<p>404</p>", nonce), "text/html; charset=utf-8")

    # ---------------------------------------------------------------- handlers

    def _health(self) -> None:
        """apiHealthHandler: healthResponse, MarshalIndent, Content-Type with charset."""
        doc: dict[str, Any] = {"database": "ok"}
        if not setting_bool("auth.anonymous", "hide_version", False):
            doc.update(version=VERSION, commit=COMMIT)
        self._send(200, go_json(doc, indent=True), "application/json; charset=UTF-8")

    def _metrics(self) -> None:
        """metricsEndpoint: basic auth only when both username and password are set."""
        user = setting("metrics", "basic_auth_username")
        wanted = setting("metrics", "basic_auth_password")
        if user and wanted:
            credentials = _basic_credentials(self.headers.get("Authorization", ""))
            if credentials is None or not (
                secrets.compare_digest(credentials[0], user)
                and secrets.compare_digest(credentials[1], wanted)
            ):
                self._send(401, b"", None, {"WWW-Authenticate": 'Basic realm="Grafana"'})
                return
        body = (
            "# HELP grafana_build_info A metric with a constant '1' value labeled by version, "
            "revision, branch, and goversion from which Grafana was built\n"
            "# TYPE grafana_build_info gauge\n"
            f'grafana_build_info{{branch="testdouble",edition="oss",goversion="testdouble",'
            f'revision="{COMMIT}",version="{VERSION}"}} 1\n'
            "# HELP grafana_stat_totals_dashboard total amount of dashboards\n"
            "# TYPE grafana_stat_totals_dashboard gauge\n"
            f"grafana_stat_totals_dashboard {len(provisioned_dashboards())}\n"
        )
        self._send(200, body.encode(), "text/plain; version=0.0.4; charset=utf-8")

    def _user(self) -> None:
        """GetSignedInUser (pkg/api/user.go): the signed-in user's UserProfileDTO."""
        with STORE.connect() as db:
            row = db.execute("SELECT * FROM user WHERE id = ?", (self._user_id,)).fetchone()
        if row is None:
            self._api_error(404, "User not found")
            return
        if row["is_service_account"]:
            # GetSignedInUser: an identity that is not a user (a service account)
            # gets a UserProfileDTO of its identity only: the typed id as uid,
            # its name, email and login, the org; every other field zero.
            self._json(
                200,
                {
                    "id": 0,
                    "uid": f"service-account:{row['id']}",
                    "email": row["email"],
                    "name": row["name"] or row["login"],
                    "login": row["login"],
                    "theme": "",
                    "orgId": row["org_id"],
                    "isGrafanaAdmin": False,
                    "isDisabled": False,
                    "isExternal": False,
                    "isExternallySynced": False,
                    "isGrafanaAdminExternallySynced": False,
                    "authLabels": None,
                    "updatedAt": "0001-01-01T00:00:00Z",
                    "createdAt": "0001-01-01T00:00:00Z",
                    "avatarUrl": "",
                    "isProvisioned": False,
                },
            )
            return
        email = str(row["email"])
        self._json(
            200,
            {
                "id": row["id"],
                "uid": row["uid"],
                "email": email,
                "name": row["name"],
                "login": row["login"],
                "theme": "",
                "orgId": row["org_id"],
                "isGrafanaAdmin": bool(row["is_admin"]),
                "isDisabled": False,
                "isExternal": False,
                "isExternallySynced": False,
                "isGrafanaAdminExternallySynced": False,
                "authLabels": [],
                "updatedAt": row["updated"],
                "createdAt": row["created"],
                # dtos.GetGravatarUrl: md5 of the lower-cased email.
                "avatarUrl": "/avatar/"
                + hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest(),
                "isProvisioned": False,
            },
        )

    def _reload(self, kind: str) -> None:
        """AdminProvisioningReload*: response.Success("<Kind> config reloaded")."""
        self._json(200, {"message": f"{kind.capitalize()} config reloaded"})

    def _resolve_user(self, id_or_uid: str) -> sqlite3.Row | None:
        """middlewareUserUIDResolver: a numeric id, or a uid turned into the id."""
        with STORE.connect() as db:
            if id_or_uid.isdigit():
                return db.execute("SELECT * FROM user WHERE id = ?", (int(id_or_uid),)).fetchone()
            return db.execute("SELECT * FROM user WHERE uid = ?", (id_or_uid,)).fetchone()

    def _set_password(self, target: str) -> None:
        """AdminUpdateUserPassword (after middlewareUserUIDResolver): the hash with
        the user's salt, login attempts reset, that user's sessions revoked. The
        admin's password goes to the double's own file, as before."""
        row = self._resolve_user(target)
        if row is None:
            self._api_error(404, "User not found")
            return
        try:
            form = json.loads(self._body or b"{}")
            password = form.get("password", "") if isinstance(form, dict) else None
        except ValueError:
            password = None
        if not isinstance(password, str):
            self._api_error(400, "bad request data")
            return
        if len(password) < 4:
            self._api_error(400, "New password too short")
            return
        user_id = int(row["id"])
        if user_id == ADMIN_ID:
            set_admin_password(password)
            STATE.reset_attempts(admin_login())
        else:
            salt = row["salt"] or random_string(10)
            with STORE.lock, STORE.connect() as db:
                db.execute(
                    "UPDATE user SET password = ?, salt = ?, updated = ? WHERE id = ?",
                    (encode_password(password, salt), salt, _now(), user_id),
                )
            STATE.reset_attempts(row["login"])
        STATE.revoke_sessions(user_id)
        self._json(200, {"message": "User password updated"})

    def _set_permissions(self, target: str) -> None:
        """AdminUpdateUserPermissions: {"isGrafanaAdmin": bool}; the user service
        refuses to take the role from the last Grafana Admin (ErrLastGrafanaAdmin)."""
        row = self._resolve_user(target)
        if row is None:
            self._api_error(404, "User not found")
            return
        form = self._form()
        if form is None:
            self._api_error(400, "bad request data")
            return
        is_admin = bool(form.get("isGrafanaAdmin", False))
        with STORE.lock, STORE.connect() as db:
            if not is_admin and row["is_admin"]:
                others = db.execute(
                    "SELECT count(*) FROM user WHERE is_admin = 1 AND id != ?", (row["id"],)
                ).fetchone()[0]
                if others == 0:
                    self._api_error(400, "Cannot remove last grafana admin")
                    return
            db.execute(
                "UPDATE user SET is_admin = ?, updated = ? WHERE id = ?",
                (int(is_admin), _now(), row["id"]),
            )
        self._json(200, {"message": "User permissions updated"})

    # ------------------------------------------------------------ kept in grafana.db

    def _form(self) -> dict[str, Any] | None:
        try:
            form = json.loads(self._body or b"{}")
        except ValueError:
            return None
        return form if isinstance(form, dict) else None

    def _create_user(self) -> None:
        """AdminCreateUser (pkg/api/admin_users.go): login defaults to the email."""
        form = self._form()
        if form is None or not isinstance(form.get("password", ""), str):
            self._api_error(400, "bad request data")
            return
        email = str(form.get("email") or form.get("login") or "")
        login = str(form.get("login") or email)
        if not login:
            self._api_error(400, "bad request data")
            return
        uid = "u" + secrets.token_hex(6)
        now = _now()
        try:
            with STORE.lock, STORE.connect() as db:
                salt = random_string(10)
                cur = db.execute(
                    "INSERT INTO user (uid, login, email, name, password, salt, rands, created,"
                    " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        uid,
                        login,
                        email,
                        str(form.get("name", "")),
                        encode_password(str(form.get("password", "")), salt),
                        salt,
                        random_string(10),
                        now,
                        now,
                    ),
                )
                user_id = cur.lastrowid
        except sqlite3.IntegrityError:
            self._api_error(412, "User already exists")
            return
        self._json(200, {"id": user_id, "uid": uid, "message": "User created"})

    def _lookup_user(self, query: dict[str, list[str]]) -> None:
        """GetUserByLoginOrEmail (pkg/api/users.go)."""
        wanted = query.get("loginOrEmail", [""])[0]
        with STORE.connect() as db:
            row = db.execute(
                "SELECT * FROM user WHERE login = ? OR email = ?", (wanted, wanted)
            ).fetchone()
        if row is None:
            self._api_error(404, "user not found")
            return
        self._json(
            200,
            {
                "id": row["id"],
                "uid": row["uid"],
                "email": row["email"],
                "name": row["name"],
                "login": row["login"],
                "orgId": row["org_id"],
                "isGrafanaAdmin": bool(row["is_admin"]),
                "isDisabled": False,
                "createdAt": row["created"],
                "updatedAt": row["updated"],
            },
        )

    def _get_preferences(self) -> None:
        """GetUserPreferences (pkg/api/preferences.go), the signed-in user's."""
        with STORE.connect() as db:
            row = db.execute(
                "SELECT * FROM preferences WHERE user_id = ?", (self._user_id,)
            ).fetchone()
        self._json(
            200,
            {
                "theme": row["theme"] if row else "",
                "homeDashboardUID": row["home_dashboard_uid"] if row else "",
                "timezone": row["timezone"] if row else "",
                "weekStart": row["week_start"] if row else "",
            },
        )

    def _put_preferences(self) -> None:
        """UpdateUserPreferences (pkg/api/preferences.go)."""
        form = self._form()
        if form is None:
            self._api_error(400, "bad request data")
            return
        theme = str(form.get("theme", ""))
        if theme not in ("", "light", "dark", "system"):
            self._api_error(400, "Invalid theme")
            return
        with STORE.lock, STORE.connect() as db:
            db.execute(
                "INSERT INTO preferences (user_id, theme, home_dashboard_uid, timezone, week_start,"
                " updated) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET"
                " theme = excluded.theme, home_dashboard_uid = excluded.home_dashboard_uid,"
                " timezone = excluded.timezone, week_start = excluded.week_start,"
                " updated = excluded.updated",
                (
                    self._user_id,
                    theme,
                    str(form.get("homeDashboardUID", "")),
                    str(form.get("timezone", "")),
                    str(form.get("weekStart", "")),
                    _now(),
                ),
            )
        self._json(200, {"message": "Preferences updated"})

    # ------------------------------------------------------------ access checks

    def _who(self) -> Identity:
        """The signed-in identity (the routes below run behind ReqSignedIn)."""
        with STORE.connect() as db:
            who = identity_of(db, self._user_id)
        assert who is not None
        return who

    def _deny(self, needed: str) -> None:
        """accesscontrol/middleware.go deny: 403 {title, message, accessErrorId};
        the message names the evaluator (evaluator.go String: the action, "any of
        a, b" for EvalAny)."""
        self._json(
            403,
            {
                "accessErrorId": "ACE" + "".join(secrets.choice("0123456789") for _ in range(10)),
                "message": "You'll need additional permissions to perform this action."
                f" Permissions needed: {needed}",
                "title": "Access denied",
            },
        )

    def _public_error(self, status: int, message_id: str, message: str, extra: Any = None) -> None:
        self._json(status, public_error(status, message_id, message, extra))

    # ------------------------------------------------------------ desk routes

    def _desk_routes(
        self,
        method: str,
        trimmed: str,
        query: dict[str, list[str]],
        signed_in: bool,
        error: AuthError | None,
        path: str,
    ) -> bool:
        """The service account, folder, folder permission and dashboard routes
        (pkg/services/serviceaccounts/api/api.go and token.go, pkg/api/folder.go,
        pkg/services/accesscontrol/resourcepermissions/api.go, pkg/api/dashboard.go,
        pkg/api/search.go). Each runs behind ReqSignedIn; its access check is in
        its handler. False when the request is none of them."""
        get_like = method in ("GET", "HEAD")
        handler: Any = None
        found = None
        if trimmed == "/api/serviceaccounts" and method == "POST":
            handler = self._sa_create
        elif trimmed == "/api/serviceaccounts/search" and get_like:
            handler = lambda: self._sa_search(query)  # noqa: E731
        elif found := re.fullmatch(r"/api/serviceaccounts/([^/]+)", trimmed):
            sa = found.group(1)
            handler = {
                "GET": lambda: self._sa_get(sa),
                "HEAD": lambda: self._sa_get(sa),
                "PATCH": lambda: self._sa_update(sa),
                "DELETE": lambda: self._sa_delete(sa),
            }.get(method)
        elif found := re.fullmatch(r"/api/serviceaccounts/([^/]+)/tokens", trimmed):
            sa = found.group(1)
            handler = {
                "GET": lambda: self._sa_tokens(sa),
                "HEAD": lambda: self._sa_tokens(sa),
                "POST": lambda: self._sa_token_create(sa),
            }.get(method)
        elif method == "DELETE" and (
            found := re.fullmatch(r"/api/serviceaccounts/([^/]+)/tokens/([^/]+)", trimmed)
        ):
            sa, token_id = found.group(1), found.group(2)
            handler = lambda: self._sa_token_delete(sa, token_id)  # noqa: E731
        elif trimmed == "/api/folders" and method == "POST":
            handler = self._folder_create
        elif trimmed == "/api/folders" and get_like:
            handler = lambda: self._folder_list(query)  # noqa: E731
        elif found := re.fullmatch(r"/api/folders/([^/]+)", trimmed):
            uid = found.group(1)
            handler = {
                "GET": lambda: self._folder_get(uid),
                "HEAD": lambda: self._folder_get(uid),
                "DELETE": lambda: self._folder_delete(uid),
            }.get(method)
        elif get_like and (found := re.fullmatch(r"/api/access-control/folders/([^/]+)", trimmed)):
            uid = found.group(1)
            handler = lambda: self._folder_permissions(uid)  # noqa: E731
        elif method == "POST" and (
            found := re.fullmatch(r"/api/access-control/folders/([^/]+)/users/([^/]+)", trimmed)
        ):
            uid, user = found.group(1), found.group(2)
            handler = lambda: self._folder_permission_set(uid, user)  # noqa: E731
        elif trimmed == "/api/dashboards/db" and method == "POST":
            handler = self._save_dashboard
        elif found := re.fullmatch(r"/api/dashboards/uid/([^/]+)", trimmed):
            uid = found.group(1)
            handler = {
                "GET": lambda: self._get_dashboard(uid),
                "HEAD": lambda: self._get_dashboard(uid),
                "DELETE": lambda: self._delete_dashboard(uid),
            }.get(method)
        elif trimmed == "/api/search" and get_like:
            handler = lambda: self._search(query)  # noqa: E731
        if handler is None:
            return False
        self._signed_in(signed_in, error, path, handler)
        return True

    # ------------------------------------------------------------ service accounts

    def _sa_allowed(self, action: str) -> bool:
        """The serviceaccounts:* actions belong to the org Admin role (and the
        Grafana Admin); others get the middleware's 403."""
        if self._who().full:
            return True
        self._deny(action)
        return False

    def _sa_row(self, db: sqlite3.Connection, ref: str) -> sqlite3.Row | None:
        """MiddlewareServiceAccountUIDResolver: the id, or the uid turned into it."""
        column = "id" if ref.isdigit() else "uid"
        return db.execute(
            f"SELECT * FROM user WHERE {column} = ? AND is_service_account = 1", (ref,)
        ).fetchone()

    def _sa_not_found(self) -> None:
        """serviceaccounts.ErrServiceAccountNotFound, through ErrOrFallback."""
        self._public_error(404, "serviceaccounts.ErrNotFound", "service account not found")

    def _sa_role(self, db: sqlite3.Connection, sa_id: int) -> str:
        row = db.execute("SELECT role FROM org_user WHERE user_id = ?", (sa_id,)).fetchone()
        return row["role"] if row else "None"

    def _sa_dto(self, db: sqlite3.Connection, row: sqlite3.Row, avatar: bool) -> dict[str, Any]:
        """serviceaccounts.ServiceAccountDTO (isExternal and accessControl omitted)."""
        tokens = db.execute(
            "SELECT count(*) FROM api_key WHERE service_account_id = ?", (row["id"],)
        ).fetchone()[0]
        return {
            "id": row["id"],
            "uid": row["uid"],
            "name": row["name"],
            "login": row["login"],
            "orgId": row["org_id"],
            "isDisabled": bool(row["is_disabled"]),
            "role": self._sa_role(db, row["id"]),
            "tokens": tokens,
            "avatarUrl": gravatar_with_default("", row["name"]) if avatar else "",
        }

    def _sa_profile(self, db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        """serviceaccounts.ServiceAccountProfileDTO as RetrieveServiceAccount fills it."""
        tokens = db.execute(
            "SELECT count(*) FROM api_key WHERE service_account_id = ?", (row["id"],)
        ).fetchone()[0]
        doc: dict[str, Any] = {
            "id": row["id"],
            "uid": row["uid"],
            "name": row["name"],
            "login": row["login"],
            "orgId": row["org_id"],
            "isDisabled": bool(row["is_disabled"]),
            "createdAt": row["created"],
            "updatedAt": row["updated"],
            "avatarUrl": gravatar_with_default("", row["name"]),
            "role": self._sa_role(db, row["id"]),
            "teams": None,
        }
        if tokens:
            doc["tokens"] = tokens
        return doc

    def _sa_create(self) -> None:
        """CreateServiceAccount (serviceaccounts/api/api.go): 201 and the
        ServiceAccountDTO; the login is generateLogin's sa-<org>-<name>, the email
        the login (userimpl CreateServiceAccount), the role Viewer unless given; a
        login taken (case-insensitive) is ErrServiceAccountAlreadyExists (400); a
        role that is none of None/Viewer/Editor/Admin is ErrServiceAccountInvalidRole."""
        if not self._sa_allowed("serviceaccounts:create"):
            return
        form = self._form()
        name = form.get("name") if form else None
        role = (form or {}).get("role", "Viewer")
        disabled = (form or {}).get("isDisabled", False)
        if not isinstance(name, str) or not name or not isinstance(role, (str, type(None))):
            self._api_error(400, "Bad request data")
            return
        role = role or "Viewer"
        if role not in ORG_ROLES:
            self._public_error(
                400, "serviceaccounts.ErrInvalidRoleSpecified", "invalid role specified"
            )
            return
        login = sa_login(1, name)
        now = _now()
        with STORE.lock, STORE.connect() as db:
            taken = db.execute(
                "SELECT 1 FROM user WHERE lower(login) = lower(?) OR lower(email) = lower(?)",
                (login, login),
            ).fetchone()
            if taken:
                self._public_error(
                    400, "serviceaccounts.ErrAlreadyExists", "service account already exists"
                )
                return
            cur = db.execute(
                "INSERT INTO user (uid, login, email, name, password, salt, rands, created,"
                " updated, is_service_account, is_disabled) VALUES (?, ?, ?, ?, '', ?, ?, ?, ?,"
                " 1, ?)",
                (
                    "sa" + secrets.token_hex(6),
                    login,
                    login,
                    name,
                    random_string(10),
                    random_string(10),
                    now,
                    now,
                    int(bool(disabled)),
                ),
            )
            sa_id = int(cur.lastrowid or 0)
            db.execute(
                "INSERT INTO org_user (user_id, role, created, updated) VALUES (?, ?, ?, ?)",
                (sa_id, role, now, now),
            )
            row = db.execute("SELECT * FROM user WHERE id = ?", (sa_id,)).fetchone()
            doc = self._sa_dto(db, row, avatar=False)
        self._json(201, doc)

    def _sa_search(self, query: dict[str, list[str]]) -> None:
        """SearchOrgServiceAccountsWithPaging: query matched in email, name, login
        (case-insensitive, contained); perpage (default 1000), page (default 1);
        ordered by email, login; disabled=true keeps the disabled ones."""
        if not self._sa_allowed("serviceaccounts:read"):
            return

        def number(key: str, default: int) -> int:
            try:
                value = int(query.get(key, [""])[0] or 0)
            except ValueError:
                value = 0
            return value if value > 0 else default

        per_page, page = number("perpage", 1000), number("page", 1)
        text = query.get("query", [""])[0].lower()
        only_disabled = query.get("disabled", [""])[0].lower() in ("1", "true", "t")
        with STORE.connect() as db:
            rows = [
                r
                for r in db.execute(
                    "SELECT * FROM user WHERE is_service_account = 1 ORDER BY email, login"
                )
                if text in r["email"].lower()
                or text in r["name"].lower()
                or text in r["login"].lower()
            ]
            if only_disabled:
                rows = [r for r in rows if r["is_disabled"]]
            shown = rows[(page - 1) * per_page : page * per_page]
            accounts = [self._sa_dto(db, r, avatar=True) for r in shown]
        self._json(
            200,
            {
                "totalCount": len(rows),
                "serviceAccounts": accounts,
                "page": page,
                "perPage": per_page,
            },
        )

    def _sa_get(self, ref: str) -> None:
        """RetrieveServiceAccount: the ServiceAccountProfileDTO with its token count."""
        if not self._sa_allowed("serviceaccounts:read"):
            return
        with STORE.connect() as db:
            row = self._sa_row(db, ref)
            if row is None:
                self._sa_not_found()
                return
            doc = self._sa_profile(db, row)
        self._json(200, doc)

    def _sa_update(self, ref: str) -> None:
        """UpdateServiceAccount: name, role, isDisabled; 200 {message, id, name,
        serviceaccount}."""
        if not self._sa_allowed("serviceaccounts:write"):
            return
        form = self._form()
        if form is None:
            self._api_error(400, "Bad request data")
            return
        role = form.get("role")
        if role is not None and role not in ORG_ROLES:
            self._public_error(
                400, "serviceaccounts.ErrInvalidRoleSpecified", "invalid role specified"
            )
            return
        now = _now()
        with STORE.lock, STORE.connect() as db:
            row = self._sa_row(db, ref)
            if row is None:
                self._sa_not_found()
                return
            if role is not None:
                db.execute(
                    "UPDATE org_user SET role = ?, updated = ? WHERE user_id = ?",
                    (role, now, row["id"]),
                )
            if form.get("name") is not None:
                db.execute(
                    "UPDATE user SET name = ?, updated = ? WHERE id = ?",
                    (str(form["name"]), now, row["id"]),
                )
            if form.get("isDisabled") is not None:
                db.execute(
                    "UPDATE user SET is_disabled = ?, updated = ? WHERE id = ?",
                    (int(bool(form["isDisabled"])), now, row["id"]),
                )
            row = db.execute("SELECT * FROM user WHERE id = ?", (row["id"],)).fetchone()
            profile = self._sa_profile(db, row)
        self._json(
            200,
            {
                "id": row["id"],
                "message": "Service account updated",
                "name": row["name"],
                "serviceaccount": profile,
            },
        )

    def _sa_delete(self, ref: str) -> None:
        """DeleteServiceAccount: the account, its tokens and its permissions."""
        if not self._sa_allowed("serviceaccounts:delete"):
            return
        with STORE.lock, STORE.connect() as db:
            row = self._sa_row(db, ref)
            if row is None:
                self._sa_not_found()
                return
            for statement in (
                "DELETE FROM api_key WHERE service_account_id = ?",
                "DELETE FROM folder_permission WHERE user_id = ?",
                "DELETE FROM org_user WHERE user_id = ?",
                "DELETE FROM user WHERE id = ?",
            ):
                db.execute(statement, (row["id"],))
        self._json(200, {"message": "Service account deleted"})

    def _sa_tokens(self, ref: str) -> None:
        """ListTokens (serviceaccounts/api/token.go): TokenDTOs by name, no key."""
        if not self._sa_allowed("serviceaccounts:read"):
            return
        now = time.time()
        with STORE.connect() as db:
            row = self._sa_row(db, ref)
            keys = (
                db.execute(
                    "SELECT * FROM api_key WHERE service_account_id = ? ORDER BY name", (row["id"],)
                ).fetchall()
                if row is not None
                else []
            )
        tokens = []
        for key in keys:
            expires = key["expires"]
            expired = expires is not None and expires < now
            seconds = 0.0
            if expires is not None and not expired and expires < now + 7 * 24 * 3600:
                seconds = float(expires - now)
            tokens.append(
                {
                    "id": key["id"],
                    "name": key["name"],
                    "created": key["created"],
                    "lastUsedAt": (
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(key["last_used_at"]))
                        if key["last_used_at"] is not None
                        else None
                    ),
                    "expiration": (
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
                        if expires is not None
                        else None
                    ),
                    "secondsUntilExpiration": seconds,
                    "hasExpired": expired,
                    "isRevoked": bool(key["is_revoked"]),
                }
            )
        self._json(200, tokens)

    def _sa_token_create(self, ref: str) -> None:
        """CreateToken: the account must exist (404 otherwise); name required;
        secondsToLive 0 = no expiry ([auth] api_key_max_seconds_to_live = -1),
        negative = ErrInvalidTokenExpiration; a name taken in the org =
        ErrDuplicateToken; 200 {id, name, key}, the key shown this once."""
        if not self._sa_allowed("serviceaccounts:write"):
            return
        with STORE.connect() as db:
            owner = self._sa_row(db, ref)
        if owner is None:
            self._sa_not_found()
            return
        form = self._form()
        name = form.get("name") if form else None
        seconds = (form or {}).get("secondsToLive", 0) or 0
        if not isinstance(name, str) or not name or not isinstance(seconds, int):
            self._api_error(400, "Bad request data")
            return
        if seconds < 0:
            self._public_error(
                400, "serviceaccounts.ErrInvalidInput", "invalid SecondsToLive value"
            )
            return
        key, hashed = new_sa_token()
        now = _now()
        try:
            with STORE.lock, STORE.connect() as db:
                cur = db.execute(
                    "INSERT INTO api_key (name, key, role, created, updated, expires,"
                    " service_account_id) VALUES (?, ?, 'Viewer', ?, ?, ?, ?)",
                    (
                        name,
                        hashed,
                        now,
                        now,
                        int(time.time()) + seconds if seconds > 0 else None,
                        owner["id"],
                    ),
                )
                token_id = cur.lastrowid
        except sqlite3.IntegrityError:
            self._public_error(
                400,
                "serviceaccounts.ErrTokenAlreadyExists",
                "service account token with given name already exists in the organization",
            )
            return
        self._json(200, {"id": token_id, "name": name, "key": key})

    def _sa_token_delete(self, ref: str, token_id: str) -> None:
        """DeleteToken: 200 "Service account token deleted"; an unknown account or
        token 404 (ErrServiceAccountNotFound, ErrServiceAccountTokenNotFound)."""
        if not self._sa_allowed("serviceaccounts:write"):
            return
        with STORE.lock, STORE.connect() as db:
            owner = self._sa_row(db, ref)
            if owner is None:
                self._sa_not_found()
                return
            if not token_id.isdigit():
                self._api_error(400, "Token ID is invalid")
                return
            cur = db.execute(
                "DELETE FROM api_key WHERE id = ? AND org_id = 1 AND service_account_id = ?",
                (int(token_id), owner["id"]),
            )
            if cur.rowcount == 0:
                self._public_error(
                    404, "serviceaccounts.ErrTokenNotFound", "service account token not found"
                )
                return
        self._json(200, {"message": "Service account token deleted"})

    # ------------------------------------------------------------ folders

    def _folder_not_found(self) -> None:
        """apierrors.ToFolderErrorResponse(ErrFolderNotFound)."""
        self._json(404, {"message": "folder not found", "status": "not-found"})

    def _user_login(self, db: sqlite3.Connection, user_id: int) -> str:
        """hs.getUserLogin; anonString when unknown."""
        row = db.execute("SELECT login FROM user WHERE id = ?", (user_id,)).fetchone()
        return str(row["login"]) if row else "Anonymous"

    def _folder_dto(
        self, db: sqlite3.Connection, who: Identity, row: sqlite3.Row, parents: bool = True
    ) -> dict[str, Any]:
        """newToFolderDto (pkg/api/folder.go): the folder with the caller's
        rights (guardian CanSave/CanEdit/CanAdmin/CanDelete), parentUid, and the
        parents from the root down (a parent the caller cannot view is redacted)."""
        level = folder_level(db, who, row["uid"])
        doc: dict[str, Any] = {
            "id": row["id"],
            "uid": row["uid"],
            "orgId": row["org_id"],
            "title": row["title"],
            "url": folder_url(row["uid"], row["title"]),
            "hasAcl": False,
            "canSave": level >= EDIT,
            "canEdit": level >= EDIT,
            "canAdmin": level >= ADMIN,
            "canDelete": level >= EDIT,
            "createdBy": self._user_login(db, row["created_by"]),
            "created": row["created"],
            "updatedBy": self._user_login(db, row["updated_by"]),
            "updated": row["updated"],
            "version": row["version"],
        }
        if row["parent_uid"]:
            doc["parentUid"] = row["parent_uid"]
        if parents:
            chain = list(reversed(folder_chain(db, row["uid"])[1:]))
            shown = []
            for parent in chain:
                if folder_level(db, who, parent["uid"]) >= VIEW:
                    shown.append(self._folder_dto(db, who, parent, parents=False))
                else:
                    shown.append(
                        {
                            "id": 0,
                            "uid": "redacted",
                            "orgId": 0,
                            "title": "redacted",
                            "url": "",
                            "hasAcl": False,
                            "canSave": False,
                            "canEdit": False,
                            "canAdmin": False,
                            "canDelete": False,
                            "createdBy": "",
                            "created": "0001-01-01T00:00:00Z",
                            "updatedBy": "",
                            "updated": "0001-01-01T00:00:00Z",
                            "version": 0,
                        }
                    )
            if shown:
                doc["parents"] = shown
        return doc

    def _folder_get(self, uid: str) -> None:
        """GET /api/folders/:uid: authorize(folders:read, folders:uid:<uid>) then
        GetFolderByUID. The scope of a folder that does not exist resolves to no
        parent (GetParents: ErrFolderNotFound), so only an identity holding
        folders:read on folders:* (org Admin) reaches the handler's 404."""
        who = self._who()
        with STORE.connect() as db:
            row = folder_row(db, uid)
            if row is None and who.full:
                self._folder_not_found()
                return
            if row is None or folder_level(db, who, uid) < VIEW:
                self._deny("folders:read")
                return
            doc = self._folder_dto(db, who, row)
        self._json(200, doc)

    def _folder_list(self, query: dict[str, list[str]]) -> None:
        """GET /api/folders (nested folders): authorize(folders:read), then the
        immediate subfolders of parentUid (the root by default) the caller can
        view, as FolderSearchHits."""
        who = self._who()
        parent = query.get("parentUid", [""])[0]
        with STORE.connect() as db:
            if any_folder_level(db, who) < VIEW:
                self._deny("folders:read")
                return
            rows = db.execute(
                "SELECT * FROM folder WHERE parent_uid = ? ORDER BY title", (parent,)
            ).fetchall()
            hits = []
            for row in rows:
                if folder_level(db, who, row["uid"]) >= VIEW:
                    hit = {"id": row["id"], "uid": row["uid"], "title": row["title"]}
                    if row["parent_uid"]:
                        hit["parentUid"] = row["parent_uid"]
                    hits.append(hit)
        self._json(200, hits)

    def _folder_create(self) -> None:
        """CreateFolder: authorize(folders:create) (any scope), then the folder
        service: under a parent, folders:create or folders:write on the parent or
        one of its parents; at the root, folders:create on folders:uid:general
        (ErrFolderCreationAccessDenied, 403). uid: generated when empty, else
        util.IsValidShortUID and at most 40 characters (ErrDashboardInvalidUid,
        ErrDashboardUidTooLong, 400); taken: 409 (ErrFolderWithSameUIDExists); no
        title 400 (ErrFolderTitleEmpty). Titles need not be unique (11.3).
        setDefaultFolderPermissions: a user creator gets Admin; a root folder gives
        Editor Edit and Viewer View; a subfolder inherits its parent's."""
        who = self._who()
        form = self._form()
        if form is None:
            self._api_error(400, "bad request data")
            return
        uid = str(form.get("uid") or "").strip()
        title = str(form.get("title") or "").strip()
        parent = str(form.get("parentUid") or "")
        denied = (
            "not enough permissions to create a folder in the selected location",
            "folders.forbiddenCreation",
        )
        now = _now()
        with STORE.lock, STORE.connect() as db:
            if any_folder_level(db, who) < EDIT:
                self._deny("folders:create")
                return
            if parent:
                if folder_level(db, who, parent) < EDIT:
                    self._public_error(403, denied[1], denied[0])
                    return
                if folder_row(db, parent) is None:
                    self._folder_not_found()
                    return
            elif root_level(who) < EDIT:
                self._public_error(403, denied[1], denied[0])
                return
            if uid and not UID_PATTERN.fullmatch(uid):
                self._api_error(400, "uid contains illegal characters")
                return
            if len(uid) > MAX_UID_LENGTH:
                self._api_error(400, "uid too long, max 40 characters")
                return
            if not title:
                self._api_error(400, "folder title cannot be empty")
                return
            uid = uid or secrets.token_hex(7)
            if (
                folder_row(db, uid) is not None
                or db.execute("SELECT 1 FROM dashboard WHERE uid = ?", (uid,)).fetchone()
            ):
                self._api_error(409, "a folder/dashboard with the same uid already exists")
                return
            db.execute(
                "INSERT INTO folder (uid, title, description, parent_uid, created, updated,"
                " created_by, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (uid, title, str(form.get("description") or ""), parent, now, now, who.id, who.id),
            )
            grants: list[tuple[int | None, str | None, str]] = []
            if not who.is_service_account:
                grants.append((who.id, None, "Admin"))
            if not parent:
                grants += [(None, "Editor", "Edit"), (None, "Viewer", "View")]
            for user_id, builtin, permission in grants:
                db.execute(
                    "INSERT INTO folder_permission (folder_uid, user_id, builtin_role, permission,"
                    " created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                    (uid, user_id, builtin, permission, now, now),
                )
            doc = self._folder_dto(db, who, folder_row(db, uid))
        self._json(200, doc)

    def _folder_delete(self, uid: str) -> None:
        """DeleteFolder: authorize(folders:delete, folders:uid:<uid>); the folder,
        its subfolders and every dashboard in them; 200 {"message": "Folder
        deleted"}."""
        who = self._who()
        with STORE.lock, STORE.connect() as db:
            row = folder_row(db, uid)
            if row is None and who.full:
                self._folder_not_found()
                return
            if row is None or folder_level(db, who, uid) < EDIT:
                self._deny("folders:delete")
                return
            for gone in descendants(db, uid):
                db.execute("DELETE FROM dashboard WHERE folder_uid = ?", (gone,))
                db.execute("DELETE FROM folder_permission WHERE folder_uid = ?", (gone,))
                db.execute("DELETE FROM folder WHERE uid = ?", (gone,))
        self._json(200, {"message": "Folder deleted"})

    # ------------------------------------------------------------ folder permissions

    def _permission_dto(
        self, db: sqlite3.Connection, perm: sqlite3.Row, inherited: bool
    ) -> dict[str, Any]:
        """resourcepermissions resourcePermissionDTO (omitempty fields left out)."""
        doc: dict[str, Any] = {
            "id": perm["id"],
            "roleName": "",
            "isManaged": True,
            "isInherited": inherited,
            "isServiceAccount": False,
        }
        if perm["user_id"] is not None:
            user = db.execute("SELECT * FROM user WHERE id = ?", (perm["user_id"],)).fetchone()
            doc["roleName"] = f"managed:users:{perm['user_id']}:permissions"
            doc["isServiceAccount"] = bool(user and user["is_service_account"])
            doc["userId"] = int(perm["user_id"])
            if user is not None:
                doc.update(
                    userUid=user["uid"],
                    userLogin=user["login"],
                    userAvatarUrl=gravatar(user["email"]),
                )
        else:
            doc["roleName"] = f"managed:builtins:{perm['builtin_role'].lower()}:permissions"
            doc["builtInRole"] = perm["builtin_role"]
        level = PERMISSION_LEVELS[perm["permission"]]
        doc.update(actions=FOLDER_ACTIONS[level], permission=perm["permission"])
        return doc

    def _folder_permissions(self, uid: str) -> None:
        """getPermissions: authorize(folders.permissions:read, folders:uid:<uid>);
        the folder's managed permissions, its parents' (isInherited), and the Admin
        basic role's, which OSS lists (no accesscontrol.enforcement licence)."""
        who = self._who()
        with STORE.connect() as db:
            row = folder_row(db, uid)
            if row is None and who.full:
                self._folder_not_found()
                return
            if row is None or folder_level(db, who, uid) < ADMIN:
                self._deny("folders.permissions:read")
                return
            listed = []
            for depth, folder in enumerate(folder_chain(db, uid)):
                for perm in db.execute(
                    "SELECT * FROM folder_permission WHERE folder_uid = ? ORDER BY id",
                    (folder["uid"],),
                ):
                    listed.append(self._permission_dto(db, perm, inherited=depth > 0))
        listed.append(
            {
                "id": 0,
                "roleName": "",
                "isManaged": False,
                "isInherited": False,
                "isServiceAccount": False,
                "builtInRole": "Admin",
                "actions": FOLDER_ACTIONS[ADMIN],
                "permission": "Admin",
            }
        )
        self._json(200, listed)

    def _folder_permission_set(self, uid: str, user_ref: str) -> None:
        """setUserPermission: authorize(folders.permissions:write, folders:uid:<uid>);
        the user or service account (id, or uid: middlewareUserUIDResolver) gets
        View, Edit or Admin, or loses its permission with ""; another permission is
        ErrInvalidPermission (400). 200 "Permission updated" / "Permission removed"."""
        who = self._who()
        form = self._form()
        now = _now()
        with STORE.lock, STORE.connect() as db:
            row = folder_row(db, uid)
            if row is None and who.full:
                self._folder_not_found()
                return
            if row is None or folder_level(db, who, uid) < ADMIN:
                self._deny("folders.permissions:write")
                return
            column = "id" if user_ref.isdigit() else "uid"
            user = db.execute(f"SELECT * FROM user WHERE {column} = ?", (user_ref,)).fetchone()
            if user is None:
                self._api_error(404, "User not found")
                return
            if form is None or not isinstance(form.get("permission", ""), str):
                self._api_error(400, "bad request data")
                return
            permission = form.get("permission", "")
            if permission and permission not in PERMISSION_LEVELS:
                self._public_error(
                    400,
                    "resourcePermissions.invalidPermission",
                    f"Permission [{permission}] is invalid for this resource type",
                    {"permission": permission},
                )
                return
            db.execute(
                "DELETE FROM folder_permission WHERE folder_uid = ? AND user_id = ?",
                (uid, user["id"]),
            )
            if permission:
                db.execute(
                    "INSERT INTO folder_permission (folder_uid, user_id, permission, created,"
                    " updated) VALUES (?, ?, ?, ?, ?)",
                    (uid, user["id"], permission, now, now),
                )
        self._json(200, {"message": "Permission updated" if permission else "Permission removed"})

    # ------------------------------------------------------------ dashboards

    def _save_dashboard(self) -> None:
        """PostDashboard (pkg/api/dashboard.go) and the dashboard service's
        BuildSaveDashboardCommand: authorize(any of dashboards:create,
        dashboards:write); title required; uid util.IsValidShortUID and at most 40
        characters; folderUid must name a folder (400 "folder not found"); a new
        dashboard needs dashboards:create on its folder (folders:uid:general at the
        root), an existing one dashboards:write on its folder and, when it moves,
        dashboards:create on the new one (403 "Access denied to save dashboard").
        A new version of one with the same uid when `overwrite` is true. Titles
        need not be unique in a folder (grafana/grafana#90687, Grafana 11.3)."""
        who = self._who()
        form = self._form()
        dashboard = form.get("dashboard") if form else None
        with STORE.connect() as db:
            if any_folder_level(db, who) < EDIT:
                self._deny("any of dashboards:create, dashboards:write")
                return
        if not isinstance(dashboard, dict) or not str(dashboard.get("title", "")).strip():
            self._api_error(400, "Dashboard title cannot be empty")
            return
        uid = str(dashboard.get("uid") or "").strip()
        if not UID_PATTERN.fullmatch(uid):
            self._api_error(400, "uid contains illegal characters")
            return
        if len(uid) > MAX_UID_LENGTH:
            self._api_error(400, "uid too long, max 40 characters")
            return
        uid = uid or secrets.token_hex(7)
        title = str(dashboard["title"]).strip()
        folder_uid = str((form or {}).get("folderUid") or "")
        now = _now()
        with STORE.lock, STORE.connect() as db:
            if folder_uid and folder_row(db, folder_uid) is None:
                self._api_error(400, "folder not found")
                return
            row = db.execute(
                "SELECT id, version, folder_uid FROM dashboard WHERE uid = ?", (uid,)
            ).fetchone()
            if row is not None and not (form or {}).get("overwrite"):
                self._json(
                    412,
                    {
                        "message": "A dashboard with the same uid already exists",
                        "status": "name-exists",
                    },
                )
                return
            allowed = dashboard_level(db, who, folder_uid) >= EDIT
            if row is not None and dashboard_level(db, who, row["folder_uid"]) < EDIT:
                allowed = False
            if not allowed:
                self._api_error(403, "Access denied to save dashboard")
                return
            version = (row["version"] + 1) if row else 1
            stored = {**dashboard, "uid": uid, "title": title, "version": version}
            if row is None:
                cur = db.execute(
                    "INSERT INTO dashboard (uid, title, slug, version, data, created_by, created,"
                    " updated, folder_uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (uid, title, slugify(title), version, "", self._user_id, now, now, folder_uid),
                )
                dash_id = cur.lastrowid
            else:
                dash_id = row["id"]
            stored["id"] = dash_id
            db.execute(
                "UPDATE dashboard SET title = ?, slug = ?, version = ?, data = ?, updated = ?,"
                " folder_uid = ? WHERE id = ?",
                (title, slugify(title), version, json.dumps(stored), now, folder_uid, dash_id),
            )
        slug = slugify(title)
        self._json(
            200,
            {
                "id": dash_id,
                "uid": uid,
                "url": f"/d/{uid}/{slug}",
                "status": "success",
                "version": version,
                "slug": slug,
                "folderUid": folder_uid,
            },
        )

    def _dashboard_denied(
        self,
        db: sqlite3.Connection,
        who: Identity,
        row: sqlite3.Row | None,
        action: str,
        level: int,
    ) -> bool:
        """authorize(<action>, dashboards:uid:<uid>): a dashboard that does not
        exist fails its scope resolution with ErrDashboardNotFound, which deny()
        answers 404 {title, message} (middleware.go), unless the identity's
        wildcard scope matched first; one outside the identity's folders 403."""
        if who.full:
            return False
        if row is None:
            self._json(404, {"message": "Dashboard not found", "title": "Not found"})
            return True
        if dashboard_level(db, who, row["folder_uid"]) < level:
            self._deny(action)
            return True
        return False

    def _get_dashboard(self, uid: str) -> None:
        """GetDashboard (pkg/api/dashboard.go) for dashboards saved through the API:
        {dashboard, meta} with the folder (folderUid, folderTitle, folderUrl,
        folderId; "General" at the root), or 404 Dashboard not found."""
        who = self._who()
        with STORE.connect() as db:
            row = db.execute("SELECT * FROM dashboard WHERE uid = ?", (uid,)).fetchone()
            if row is None:
                provisioned = provisioned_dashboard(uid)
                if provisioned is not None and root_level(who) >= VIEW:
                    self._json(200, provisioned_view(*provisioned, level=root_level(who)))
                    return
            if self._dashboard_denied(db, who, row, "dashboards:read", VIEW):
                return
            if row is None:
                self._api_error(404, "Dashboard not found")
                return
            folder = folder_row(db, row["folder_uid"]) if row["folder_uid"] else None
            level = dashboard_level(db, who, row["folder_uid"])
        self._json(
            200,
            {
                "dashboard": json.loads(row["data"]),
                "meta": {
                    "slug": row["slug"],
                    "url": f"/d/{uid}/{row['slug']}",
                    "version": row["version"],
                    "created": row["created"],
                    "updated": row["updated"],
                    "provisioned": False,
                    "canSave": level >= EDIT,
                    "canEdit": level >= EDIT,
                    "canAdmin": level >= ADMIN,
                    "canDelete": level >= EDIT,
                    "folderId": folder["id"] if folder else 0,
                    "folderUid": row["folder_uid"],
                    "folderTitle": folder["title"] if folder else "General",
                    "folderUrl": folder_url(folder["uid"], folder["title"]) if folder else "",
                },
            },
        )

    def _delete_dashboard(self, uid: str) -> None:
        """DeleteDashboardByUID: authorize(dashboards:delete, dashboards:uid:<uid>);
        404 Dashboard not found; 200 {title, message, uid}."""
        who = self._who()
        with STORE.lock, STORE.connect() as db:
            row = db.execute("SELECT * FROM dashboard WHERE uid = ?", (uid,)).fetchone()
            if self._dashboard_denied(db, who, row, "dashboards:delete", EDIT):
                return
            if row is None:
                self._api_error(404, "Dashboard not found")
                return
            db.execute("DELETE FROM dashboard WHERE id = ?", (row["id"],))
        self._json(
            200,
            {"message": f"Dashboard {row['title']} deleted", "title": row["title"], "uid": uid},
        )

    def _stored_hits(self, db: sqlite3.Connection, who: Identity) -> list[dict[str, Any]]:
        """Search hits (search/model Hit) for the folders and dashboards created
        through the API that the identity can view."""
        hits: list[dict[str, Any]] = []
        titles = {r["uid"]: r for r in db.execute("SELECT * FROM folder")}

        def in_folder(hit: dict[str, Any], parent: str) -> None:
            if parent and parent in titles:
                hit.update(
                    folderId=titles[parent]["id"],
                    folderUid=parent,
                    folderTitle=titles[parent]["title"],
                    folderUrl=folder_url(parent, titles[parent]["title"]),
                )

        for row in titles.values():
            if folder_level(db, who, row["uid"]) < VIEW:
                continue
            hit = {
                "id": row["id"],
                "uid": row["uid"],
                "orgId": row["org_id"],
                "title": row["title"],
                "uri": f"db/{slugify(row['title'])}",
                "url": folder_url(row["uid"], row["title"]),
                "slug": "",
                "type": "dash-folder",
                "tags": [],
                "isStarred": False,
                "sortMeta": 0,
                "isDeleted": False,
            }
            in_folder(hit, row["parent_uid"])
            hits.append(hit)
        for row in db.execute("SELECT * FROM dashboard"):
            if dashboard_level(db, who, row["folder_uid"]) < VIEW:
                continue
            try:
                tags = list(json.loads(row["data"]).get("tags") or [])
            except (ValueError, AttributeError):
                tags = []
            hit = {
                "id": row["id"],
                "uid": row["uid"],
                "orgId": row["org_id"],
                "title": row["title"],
                "uri": f"db/{row['slug']}",
                "url": f"/d/{row['uid']}/{row['slug']}",
                "slug": "",
                "type": "dash-db",
                "tags": tags,
                "isStarred": False,
                "sortMeta": 0,
                "isDeleted": False,
            }
            in_folder(hit, row["folder_uid"])
            hits.append(hit)
        return hits

    def _search(self, query: dict[str, list[str]]) -> None:
        """Search (pkg/api/search.go): the hits the identity can view; the
        provisioned folder gives the Viewer and Editor roles View and Edit, so an
        identity without an org role (a service account with role None) does not
        see it."""
        try:
            limit = int(query.get("limit", ["0"])[0] or 0)
            page = int(query.get("page", ["0"])[0] or 0)
        except ValueError:
            limit, page = 0, 0
        if limit > 5000:
            self._api_error(
                422,
                "Limit is above maximum allowed (5000), use page parameter to access hits "
                "beyond limit",
            )
            return
        who = self._who()
        with STORE.connect() as db:
            stored = self._stored_hits(db, who)
        hits = search_hits(query, stored, provisioned=root_level(who) >= VIEW)
        size = limit if limit > 0 else 1000
        start = (max(page, 1) - 1) * size
        self._json(200, hits[start : start + size])

    def _login_post(self) -> None:
        """LoginPost: the form client (same password checks), a session cookie."""
        try:
            form = json.loads(self._body or b"{}")
            login, password = str(form.get("user", "")), str(form.get("password", ""))
        except (ValueError, AttributeError):
            self._api_error(400, "bad login data")
            return
        try:
            user_id = self._password_login(login, password)
        except AuthError as exc:
            # response.Err(errutil.Error): PublicError {statusCode, messageId, message}.
            self._json(
                401, {"statusCode": 401, "messageId": exc.message_id, "message": exc.message}
            )
            return
        self._json(
            200, {"message": "Logged in", "redirectUrl": "/"}, cookies=self._session(user_id)
        )

    def _session(self, user_id: int) -> list[str]:
        """A new session of the user and authn.WriteSessionCookie's two cookies."""
        token = STATE.new_session(user_id)
        session = STATE.lookup_session_quiet(token)
        return self._session_cookies(token, session.rotated_at if session else int(time.time()))

    def _session_cookies(self, token: str, rotated_at: int) -> list[str]:
        """authn.WriteSessionCookie: the session cookie (login_maximum_lifetime_duration,
        30 days) and grafana_session_expiry (not HttpOnly): the next rotation,
        rotated_at + token_rotation_interval_minutes - 5 s (NextRotation)."""
        name = setting("auth", "login_cookie_name", "grafana_session")
        max_age = 30 * 24 * 3600
        expiry = rotated_at + rotation_interval_seconds() - ROTATION_LEEWAY
        return [
            self._cookie(name, token, max_age=max_age),
            self._cookie(SESSION_EXPIRY_COOKIE, str(expiry), max_age=max_age, http_only=False),
        ]

    def _delete_session_cookies(self) -> list[str]:
        """authn.DeleteSessionCookie: both cookies, empty, Max-Age=0."""
        name = setting("auth", "login_cookie_name", "grafana_session")
        return [
            self._cookie(name, "", max_age=0),
            self._cookie(SESSION_EXPIRY_COOKIE, "", max_age=0, http_only=False),
        ]

    def _rotate(self) -> tuple[str, list[str]]:
        """hs.rotateToken / AuthTokenService.RotateToken: "ok" with the cookies to
        write (none when the token was not changed), "invalid" (no token:
        ErrInvalidSessionToken) or "not-found" (ErrUserTokenNotFound)."""
        token = self._session_cookie() or ""
        if not token:
            return "invalid", []
        if STATE.lookup_session(token) is None:
            return "not-found", []
        session, new_token = STATE.rotate_session(token)
        if new_token is None:
            return "ok", []
        return "ok", self._session_cookies(new_token, session.rotated_at)

    def _rotate_token(self) -> None:
        """RotateUserAuthToken (pkg/api/user_token.go): 200 {} and the new cookies;
        no token: 401 and the cookies deleted; unknown token: 401."""
        outcome, cookies = self._rotate()
        if outcome == "ok":
            self._json(200, {}, cookies=cookies)
        elif outcome == "invalid":
            self._json(401, {"message": "Unauthorized"}, cookies=self._delete_session_cookies())
        else:
            self._json(401, {"message": "Unauthorized"})

    def _rotate_token_redirect(self) -> None:
        """RotateUserAuthTokenRedirect: where notAuthorized sends a browser whose
        session is due for rotation; back to redirect_to (or /), else /login."""
        outcome, cookies = self._rotate()
        if outcome == "invalid":
            self._go_redirect("/login", cookies=self._delete_session_cookies())
            return
        if outcome == "not-found":
            self._go_redirect("/login")
            return
        target = "/"
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "redirect_to":
                wanted = unquote_plus(value)
                if wanted.startswith("/") and not wanted.startswith("//"):
                    target = wanted
                    cookies = [*cookies, self._cookie("redirect_to", "", max_age=0)]
        self._go_redirect(target, cookies=cookies)

    def _age_sessions(self, query: dict[str, list[str]]) -> None:
        """TEST DOUBLE (not Grafana): every session as if it had been created and
        last rotated `seconds` ago (default: token_rotation_interval_minutes + 1 s,
        so each is due for rotation)."""
        try:
            seconds = int(query.get("seconds", [""])[0] or rotation_interval_seconds() + 1)
        except ValueError:
            self._api_error(400, "seconds must be an integer")
            return
        count = STATE.age_sessions(seconds)
        self._json(200, {"aged": count, "seconds": seconds})

    def _login_page(self, nonce: str) -> None:
        self._send(
            200,
            _page("Login", "<p>login page of the TEST DOUBLE</p>", nonce),
            "text/html; charset=utf-8",
        )

    def _dashboards_page(self, path: str, nonce: str, signed_in: bool) -> None:
        dashboards = [model for _, model in provisioned_dashboards()]
        uid = path.split("/")[2] if path.startswith("/d/") else None
        parts = []
        for dash in dashboards:
            if uid and dash.get("uid") != uid:
                continue
            panels = "".join(
                f"<div class='panel'>{html.escape(str(p.get('title') or p.get('type')))}</div>"
                for p in dash.get("panels", [])
            )
            parts.append(
                f"<h2><a href='/d/{html.escape(str(dash.get('uid')))}'>"
                f"{html.escape(str(dash.get('title')))}</a></h2>{panels}"
            )
        body = f"<p>{len(dashboards)} provisioned dashboards</p>" + "".join(parts)
        # Stands for the page of a signed-in browser: the session it would hold.
        cookies = [] if signed_in else self._session(ADMIN_ID)
        self._send(
            200, _page("Dashboards", body, nonce), "text/html; charset=utf-8", cookies=cookies
        )

    def _origin_allowed(self) -> bool:
        """pkg/services/live/live.go getCheckOriginFunc / checkAllowedOrigin."""
        origin = self.headers.get("Origin", "")
        if not origin:
            return True
        patterns = [p.strip() for p in setting("live", "allowed_origins").split(",") if p.strip()]
        if patterns == ["*"]:
            return True
        parsed = urlsplit(origin.lower())
        if parsed.netloc == self.headers.get("Host", "").lower():
            return True
        app = urlsplit(setting("server", "root_url", "").lower())
        host = (app.hostname or "") if parsed.port is None else app.netloc
        if parsed.scheme == app.scheme and parsed.netloc == host:
            return True
        return any(
            re.fullmatch(re.escape(p.lower()).replace(r"\*", ".*"), origin.lower())
            for p in patterns
        )

    def _websocket(self) -> None:
        """centrifuge's websocket Upgrader (internal/websocket/server.go Upgrade)."""

        def refuse(code: int) -> None:
            text = {400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed"}[code]
            self._send(
                code,
                (text + "\n").encode(),
                "text/plain; charset=utf-8",
                {"Sec-Websocket-Version": "13"},
            )

        def tokens(name: str) -> list[str]:
            return [t.strip().lower() for t in self.headers.get(name, "").split(",")]

        if "upgrade" not in tokens("Connection") or "websocket" not in tokens("Upgrade"):
            refuse(400)
            return
        if self.command != "GET":
            refuse(405)
            return
        if "13" not in tokens("Sec-WebSocket-Version"):
            refuse(400)
            return
        key = self.headers.get("Sec-WebSocket-Key", "")
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except binascii.Error:
            valid_key = False
        if not valid_key:
            refuse(400)
            return
        if not self._origin_allowed():
            refuse(403)
            return
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.close_connection = True


# --------------------------------------------------------------------------- grafana cli


def cli(argv: list[str]) -> int:
    """The `grafana cli admin reset-admin-password` command
    (pkg/cmd/grafana-cli/commands/reset_password_command.go)."""
    args = list(argv)
    # Global options of `grafana cli` (homepath, config, ...), then the command.
    while args and args[0].startswith("--") and args[0] != "--":
        option, _, value = args.pop(0).partition("=")
        takes_value = option in ("--homepath", "--config", "--pluginsDir", "--repo")
        if takes_value and not value and args:
            value = args.pop(0)
        if option == "--config" and value:
            # The data folder (where the admin's password lives) is read from this file.
            os.environ["GF_PATHS_CONFIG"] = value
    if args[:2] != ["admin", "reset-admin-password"]:
        print(f"TEST DOUBLE: unsupported grafana cli command: {argv}", file=sys.stderr)
        return 1
    args = args[2:]
    from_stdin, user_id, positional = False, ADMIN_ID, []
    while args:
        arg = args.pop(0)
        if arg in ("--password-from-stdin", "-password-from-stdin"):
            from_stdin = True
        elif arg.startswith(("--user-id", "-user-id")):
            value = arg.partition("=")[2] or (args.pop(0) if args else "")
            try:
                user_id = int(value)
            except ValueError:
                print(f'Error: invalid value "{value}" for flag -user-id', file=sys.stderr)
                return 1
        else:
            positional.append(arg)
    if from_stdin:
        line = sys.stdin.readline()  # bufio.Scanner: the first line only
        if not line:
            print("Error: can't read password from stdin", file=sys.stderr)
            return 1
        password = line.rstrip("\n").rstrip("\r")
    else:
        password = positional[0] if positional else ""
    if len(password) <= 4:  # user.Password.IsWeak
        print("Error: new password is too short", file=sys.stderr)
        return 1
    if user_id != ADMIN_ID:
        print("Error: could not read user from database. Error: user not found", file=sys.stderr)
        return 1
    set_admin_password(password)
    print("\nAdmin password changed successfully (TEST DOUBLE)")
    return 0


def main() -> None:
    if sys.argv[1:2] == ["cli"]:
        sys.exit(cli(sys.argv[2:]))
    port = int(os.environ.get("GF_SERVER_HTTP_PORT", "3000"))
    host = "0.0.0.0"  # the container's published port
    args = sys.argv[1:]
    while args:
        arg = args.pop(0)
        if arg == "--port" and args:
            port = int(args.pop(0))
        elif arg == "--host" and args:
            host = args.pop(0)
    STORE.open()
    print(
        json.dumps(
            {
                "double": "grafana",
                "msg": "TEST DOUBLE for Grafana listening",
                "port": port,
                "database": str(STORE.path),
            }
        ),
        flush=True,
    )
    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
