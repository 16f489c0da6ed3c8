"""TEST HELPER, never shipped: the alert channels' far ends, recorded for verify.

The molecule test host runs this program as the container `bbdash-capture` on
`bloomberg-net` (tests/images/capture/Dockerfile, started by the scenarios'
prepare.yml). The local inventory points every Alertmanager channel at it, so
that verify can read what Alertmanager really delivered:

- a fake Telegram Bot API (`telegram_configs.api_url`): `POST
  /bot<token>/sendMessage` answers like Telegram (`{"ok": true, "result":
  <Message>}`), and records chat id, parse mode and text. The token itself is
  never recorded: only whether it has a bot token's shape;
- an SMTP sink (aiosmtpd, port 2525, no TLS): records envelope, headers and
  the text/plain part; AUTH LOGIN is offered and accepted, and only the login
  and the SHA-256 of the password are recorded (verify compares that digest
  with the secret file Alertmanager reads);
- HTTP captures for the generic webhook, Discord, Slack and the dead man's
  switch: `POST /webhook/...`, `/discord/...`, `/slack/...`, `/deadman/...`
  (the random part of the path stands for the URL's secret and is not kept).

Inspection (for the tests, on bloomberg-net only, no published port):

- `GET /captured?channel=telegram[&since=<unix time>]`: the records, oldest first;
- `POST /control?channel=telegram&fail=500` makes a channel answer with that
  status (`fail=0` restores it), to watch Alertmanager's failure counters;
- `GET /healthz`.

It also plays Binance's klines and Yahoo's chart endpoints for the history
backfill (`GET /binance/api/v3/klines`, `GET /yahoo/v8/finance/chart/<symbol>`,
fake_market_history.py).

Standard library plus aiosmtpd; no state survives a restart.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import hashlib
import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from fake_market_history import KLINE_WEIGHT, klines, yahoo_chart

# AUTH LOGIN's challenges as real servers send them (draft-murchison-sasl-login:
# "Username:", "Password:"; Postfix and Exchange do). aiosmtpd 1.4 sends "User
# Name\0" and "Password\0", which Alertmanager refuses: its loginAuth.Next
# (notify/email/email.go, v0.25.0 to v0.34.0) accepts only "username:" and
# "password:", case-insensitively, and fails with "unexpected server challenge".
SMTP.AuthLoginUsernameChallenge = "Username:"
SMTP.AuthLoginPasswordChallenge = "Password:"

BANNER = "bbdash-capture: TEST HELPER, not a real alert channel"
CHANNELS = ("telegram", "email", "webhook", "discord", "slack", "deadman")
# A Telegram bot token: the bot's numeric id, a colon, 35 characters.
BOT_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]{35}$")
MAX_RECORDS = 5000


class Store:
    """Records per channel, bounded, thread-safe; and the failure switches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, deque[dict[str, Any]]] = {
            c: deque(maxlen=MAX_RECORDS) for c in CHANNELS
        }
        self._fail: dict[str, int] = {}
        self._seq = 0
        self._weights: deque[tuple[float, int]] = deque()

    def spend_weight(self, weight: int) -> int:
        """The fake Binance's request weight used in the last minute, this call included."""
        now = time.monotonic()
        with self._lock:
            self._weights.append((now, weight))
            while self._weights[0][0] < now - 60:
                self._weights.popleft()
            return sum(w for _, w in self._weights)

    def add(self, channel: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._records[channel].append(
                {"seq": self._seq, "channel": channel, "received_at": time.time(), **record}
            )

    def get(self, channel: str, since: float) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self._records[channel] if r["received_at"] >= since]

    def failing(self, channel: str) -> int:
        with self._lock:
            return self._fail.get(channel, 0)

    def set_failing(self, channel: str, status: int) -> None:
        with self._lock:
            self._fail[channel] = status


STORE = Store()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return {"unparsed": raw.decode("utf-8", "replace")[:2000]}


class Handler(BaseHTTPRequestHandler):
    server_version = "bbdash-capture-TEST-HELPER"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: tests read /captured
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Test-Helper", BANNER)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/healthz":
            self._send(200, {"status": "ok", "what": BANNER})
        elif url.path == "/captured":
            channel = query.get("channel", [""])[0]
            if channel not in CHANNELS:
                self._send(400, {"error": f"channel must be one of {', '.join(CHANNELS)}"})
                return
            since = float(query.get("since", ["0"])[0])
            self._send(200, STORE.get(channel, since))
        elif url.path == "/binance/api/v3/klines":
            status, body = klines(query)
            used = STORE.spend_weight(KLINE_WEIGHT)
            self._send(status, body, {"X-MBX-USED-WEIGHT-1M": str(used)})
        elif url.path.startswith("/yahoo/v8/finance/chart/"):
            symbol = unquote(url.path.rsplit("/", 1)[1])
            self._send(*yahoo_chart(symbol, query))
        else:
            self._send(404, {"error": "not found", "what": BANNER})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path == "/control":
            query = parse_qs(url.query)
            channel = query.get("channel", [""])[0]
            if channel not in CHANNELS:
                self._send(400, {"error": "unknown channel"})
                return
            STORE.set_failing(channel, int(query.get("fail", ["0"])[0]))
            self._send(200, {"channel": channel, "fail": STORE.failing(channel)})
            return
        telegram = re.fullmatch(r"/bot([^/]+)/(\w+)", url.path)
        if telegram:
            self._telegram(telegram.group(1), telegram.group(2), raw)
            return
        channel = url.path.strip("/").split("/", 1)[0]
        if channel not in ("webhook", "discord", "slack", "deadman"):
            self._send(404, {"error": "not found", "what": BANNER})
            return
        failing = STORE.failing(channel)
        answer = failing or (204 if channel == "discord" else 200)
        STORE.add(channel, {"body": _json(raw), "answered": answer})
        if failing:
            self._send(failing, {"error": "failing on purpose (test helper)"})
        elif channel == "slack":
            # Slack's incoming webhooks answer 200 with the text "ok".
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        elif channel == "discord":
            # Discord's webhooks answer 204 without ?wait=true.
            self.send_response(204)
            self.end_headers()
        else:
            self._send(200, {"status": "captured"})

    def _telegram(self, token: str, method: str, raw: bytes) -> None:
        body = _json(raw)
        if not isinstance(body, dict):
            body = {}
        failing = STORE.failing("telegram")
        record = {
            "method": method,
            "bot_token_shape_ok": bool(BOT_TOKEN.match(token)),
            "chat_id": body.get("chat_id"),
            "parse_mode": body.get("parse_mode"),
            "text": body.get("text"),
            "answered": failing or 200,
        }
        STORE.add("telegram", record)
        if failing:
            self._send(failing, {"ok": False, "error_code": failing, "description": "test helper"})
            return
        if method != "sendMessage":
            self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        chat_id = str(body.get("chat_id", "0"))
        message = {
            "message_id": record_count("telegram"),
            "date": int(time.time()),
            "chat": {"id": int(chat_id) if re.fullmatch(r"-?\d+", chat_id) else 0, "type": "group"},
            "text": body.get("text", ""),
        }
        self._send(200, {"ok": True, "result": message})


def record_count(channel: str) -> int:
    return len(STORE.get(channel, 0))


class SmtpSink:
    """aiosmtpd handler: one record per message, with the text/plain part."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        failing = STORE.failing("email")
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = ""
        html = ""
        for part in message.walk():
            if part.get_content_type() == "text/plain" and not text:
                text = part.get_content()
            elif part.get_content_type() == "text/html" and not html:
                html = part.get_content()
        auth = session.auth_data if isinstance(session.auth_data, LoginPassword) else None
        STORE.add(
            "email",
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "subject": str(message.get("Subject", "")),
                "from": str(message.get("From", "")),
                "to": str(message.get("To", "")),
                "text": text,
                "has_html": bool(html),
                "authenticated": bool(session.authenticated),
                "auth_login": auth.login.decode() if auth else None,
                "auth_password_sha256": hashlib.sha256(auth.password).hexdigest() if auth else None,
                "answered": failing or 250,
            },
        )
        if failing:
            return "451 failing on purpose (test helper)"
        return "250 Message accepted for delivery (test helper)"


def accept_any_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    # Records happen at DATA (session.auth_data); every login is accepted.
    return AuthResult(success=True, auth_data=auth_data)


def main() -> None:
    parser = argparse.ArgumentParser(description=BANNER)
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--smtp-port", type=int, default=2525)
    # Inside its container, on bloomberg-net only (nothing is published).
    parser.add_argument("--bind", default="0.0.0.0")
    args = parser.parse_args()
    smtp = Controller(
        SmtpSink(),
        hostname=args.bind,
        port=args.smtp_port,
        server_hostname="bbdash-capture",
        ident=BANNER,
        authenticator=accept_any_login,
        auth_require_tls=False,
        # Alertmanager's PLAIN refuses a connection without TLS; LOGIN does not.
        auth_exclude_mechanism=["PLAIN"],
    )
    smtp.start()
    print(f"{BANNER}: http :{args.http_port}, smtp :{args.smtp_port}", flush=True)
    try:
        ThreadingHTTPServer((args.bind, args.http_port), Handler).serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
