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
3. then authentication (basic auth of the admin or of a user created through
   the API, with Grafana's brute-force lockout, or the session cookie of a
   user, refused with ``session.token.rotate`` once due for rotation) and,
   when enabled, the CSP of grafana.ini on every further response;
4. then the routes: ``GET /api/user`` (the signed-in user), ``POST
   /api/admin/provisioning/{dashboards,datasources,plugins,alerting}/reload``,
   ``POST /api/admin/users``, ``PUT /api/admin/users/:id/{password,permissions}``
   (Grafana Admins only: 403 otherwise), ``POST /api/user/auth-tokens/rotate``,
   ``GET /api/search``, ``GET /api/live/ws`` (WebSocket handshake, Origin
   checked), ``GET|POST /login``;
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
from collections.abc import Sequence
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
        " created_by INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL)",
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


def provisioned_dashboards() -> list[tuple[Provider, dict[str, Any]]]:
    """Dashboards reachable through the file providers, like Grafana reads them."""
    found: list[tuple[Provider, dict[str, Any]]] = []
    for provider in providers():
        folder = provider.path
        for dash in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
            try:
                model = json.loads(dash.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(model, dict):
                found.append((provider, model))
    return found


def slugify(title: str) -> str:
    """pkg/infra/slugify, for ASCII titles: lower case, runs of other characters to '-'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def search_hits(query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """pkg/api/search.go Search over the provisioned folders and dashboards."""
    hits: list[dict[str, Any]] = []
    folders: dict[str, dict[str, Any]] = {}
    for provider, model in provisioned_dashboards():
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
    found = list(folders.values()) + hits
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
        credentials = _basic_credentials(self.headers.get("Authorization", ""))
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
                        " ORDER BY id",
                        (login,),
                    ).fetchone()
                    or db.execute(
                        "SELECT id, password, salt FROM user WHERE lower(email) = lower(?)"
                        " ORDER BY id",
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
        elif trimmed == "/api/dashboards/db" and method == "POST":
            self._signed_in(signed_in, error, path, self._save_dashboard)
        elif get_like and (found := re.fullmatch(r"/api/dashboards/uid/([^/]+)", trimmed)):
            uid = found.group(1)
            self._signed_in(signed_in, error, path, lambda: self._get_dashboard(uid))
        elif trimmed == "/api/search" and get_like:
            self._signed_in(signed_in, error, path, lambda: self._search(query))
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

    def _save_dashboard(self) -> None:
        """PostDashboard (pkg/api/dashboard.go): a new dashboard, or a new version of
        one with the same uid when `overwrite` is true."""
        form = self._form()
        dashboard = form.get("dashboard") if form else None
        if not isinstance(dashboard, dict) or not str(dashboard.get("title", "")).strip():
            self._api_error(400, "Dashboard title cannot be empty")
            return
        uid = str(dashboard.get("uid") or secrets.token_hex(7))
        title = str(dashboard["title"])
        now = _now()
        with STORE.lock, STORE.connect() as db:
            row = db.execute("SELECT id, version FROM dashboard WHERE uid = ?", (uid,)).fetchone()
            if row is not None and not (form or {}).get("overwrite"):
                self._json(
                    412,
                    {
                        "message": "A dashboard with the same uid already exists",
                        "status": "name-exists",
                    },
                )
                return
            version = (row["version"] + 1) if row else 1
            stored = {**dashboard, "uid": uid, "version": version}
            if row is None:
                cur = db.execute(
                    "INSERT INTO dashboard (uid, title, slug, version, data, created_by, created,"
                    " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (uid, title, slugify(title), version, "", self._user_id, now, now),
                )
                dash_id = cur.lastrowid
            else:
                dash_id = row["id"]
            stored["id"] = dash_id
            db.execute(
                "UPDATE dashboard SET title = ?, slug = ?, version = ?, data = ?, updated = ?"
                " WHERE id = ?",
                (title, slugify(title), version, json.dumps(stored), now, dash_id),
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
                "folderUid": "",
            },
        )

    def _get_dashboard(self, uid: str) -> None:
        """GetDashboard (pkg/api/dashboard.go) for dashboards saved through the API."""
        with STORE.connect() as db:
            row = db.execute("SELECT * FROM dashboard WHERE uid = ?", (uid,)).fetchone()
        if row is None:
            self._api_error(404, "Dashboard not found")
            return
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
                    "folderUid": "",
                },
            },
        )

    def _search(self, query: dict[str, list[str]]) -> None:
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
        hits = search_hits(query)
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
