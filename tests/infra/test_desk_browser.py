"""A person at the desk, in a real browser (issue 11, item 7, for what the desk has
today): headless Chromium, from outside the test host, through nginx. They sign
into Grafana (its TEST DOUBLE, tests/doubles/grafana/: its POST /login is what
Grafana's login form sends), open "My desk", make a watchlist (and reorder two), add a symbol with
the page's instant validation and see it collected, set a price alert, save a
layout and find their own dashboard in Grafana, create a write token for their
own custom bucket and write a point with it through nginx, and find it all under
their own name only. Screenshots go to .cache/artifacts/desk/.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cdp import Page, chromium
from conftest import REPO, require_tool
from test_collect import on_host, wait_until_listening
from test_data import vault
from test_present import _spki_sha256, presentation_layer  # noqa: F401 - skips without nginx

ARTIFACTS = REPO / ".cache" / "artifacts" / "desk"
WATCHLIST = "browser-desk"
SECOND = "browser-desk-2"
SYMBOL, TYPED = "LTC/USDT", "ltc-usdt"  # in no declared watchlist and not in the demo defaults
ALERT = "ltc-above-1000"
LAYOUT = "browser-layout"
CUSTOM_TOKEN = "browser-token"
CUSTOM_MEASUREMENT = "browser_series"


@pytest.fixture(scope="module")
def page(host_address: str, site_name: str) -> Iterator[Page]:
    with chromium(
        require_tool("chromium"),
        site_name=site_name,
        address=host_address,
        spki=_spki_sha256(host_address),
    ) as tab:
        yield tab


def _api(page: Page, method: str, path: str, headers: dict[str, str] | None = None) -> Any:
    """A call from the page's own script context, with its cookie (what desk.js does)."""
    return page.js(
        f"fetch('v1/{path}', {{method: '{method}', headers: {json.dumps(headers or {})}}})"
        ".then(async r => ({status: r.status, body: r.status === 204 ? null : await r.json()}))"
    )


def _session_cookie(page: Page) -> str:
    cookies = page.command("Network.getCookies")["cookies"]
    return next(c["value"] for c in cookies if c["name"] == "grafana_session")


def _custom_token(page: Page) -> tuple[str, str]:
    """Create a write token with the page's form; (the token, the example shown with it)."""
    page.js(
        f"document.getElementById('custom-token-description').value = '{CUSTOM_TOKEN}';"
        "document.getElementById('custom-token-form').requestSubmit()"
    )
    page.wait_for(
        "(document.getElementById('custom-token-value')?.textContent || '').length > 20",
        "the new token shown once",
    )
    page.wait_for(
        f"document.getElementById('custom-tokens').textContent.includes('{CUSTOM_TOKEN}')",
        "the token listed",
    )
    token = page.js("document.getElementById('custom-token-value').textContent.trim()")
    example = page.js("document.getElementById('custom-token-example').textContent")
    return token, example


def _write_custom(page: Page, token: str, bucket: str, line: str) -> int:
    """POST line protocol to the public write path, as the example's curl does."""
    return page.js(
        f"fetch('/influxdb/api/v2/write?org=bloomberg&bucket={bucket}&precision=s',"
        f" {{method: 'POST', headers: {{Authorization: 'Token {token}',"
        " 'Content-Type': 'text/plain; charset=utf-8'},"
        f" body: {json.dumps(line)}}}).then(r => r.status)"
    )


def _clean(page: Page) -> None:
    """Remove what an interrupted run left: the watchlist and the alert, by name."""
    for kind, name in (
        ("watchlists", WATCHLIST),
        ("watchlists", SECOND),
        ("alert-rules", ALERT),
        ("layouts", LAYOUT),
    ):
        listed = _api(page, "GET", f"{kind}?limit=200")["body"]["data"]
        for found in [item for item in listed if item["name"] == name]:
            gone = _api(
                page, "DELETE", f"{kind}/{found['id']}", {"If-Match": f'"v{found["version"]}"'}
            )
            assert gone["status"] == 204, gone
    custom = _api(page, "GET", "custom")["body"]
    for found in [t for t in custom.get("tokens", []) if t["description"] == CUSTOM_TOKEN]:
        assert _api(page, "DELETE", f"custom/tokens/{found['id']}")["status"] == 204


@pytest.mark.doubles
def test_a_person_manages_their_desk_in_a_real_browser(
    host: Any, page: Page, site_name: str
) -> None:
    site = f"https://{site_name}"
    page.command("Network.enable")
    # Sign in as Grafana's login form does (the double's /login page is not Grafana's form).
    page.navigate(f"{site}/login")
    password = json.dumps(vault()["vault_bloomberg_trader_password"])
    signed_in = page.js(
        "fetch('/login', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        f" body: JSON.stringify({{user: 'trader', password: {password}}})}}).then(r => r.status)"
    )
    assert signed_in == 200

    desk = f"{site}/watchlist-api/desk"
    page.navigate(desk)
    page.wait_for("document.getElementById('who')?.textContent === 'Desk trader'", "the desk")
    _clean(page)
    page.navigate(desk)
    page.wait_for("document.getElementById('who')?.textContent === 'Desk trader'", "the desk")

    # Ten minutes pass (the double's age-sessions): Grafana now wants the session token
    # rotated. Once the API's 5 s memory of the cookie is gone, the page's next call is
    # refused with session-rotation; the page rotates the token and carries on.
    cookie_before = _session_cookie(page)
    assert (
        page.js("fetch('/api/test-double/age-sessions', {method: 'POST'}).then(r => r.status)")
        == 200
    )
    time.sleep(5.5)

    # A watchlist, made with the keyboard's Enter (requestSubmit).
    page.js(
        f"document.getElementById('watchlist-name').value = '{WATCHLIST}';"
        "document.getElementById('watchlist-create').requestSubmit()"
    )
    page.wait_for(
        f"document.getElementById('watchlists').textContent.includes('{WATCHLIST}')",
        "the new watchlist listed",
    )
    assert _session_cookie(page) != cookie_before, "the session token was not rotated"

    # A symbol, typed loosely: the page says how it will be collected before it is added.
    wait_until_listening(host, "bloomberg-market-feeder")
    page.js(
        "(() => { const type = document.querySelector('#watchlists [id$=-type]');"
        " type.value = 'crypto'; type.dispatchEvent(new Event('change'));"
        " const input = document.querySelector('#watchlists [id$=-symbol]');"
        f" input.value = '{TYPED}'; input.dispatchEvent(new Event('input')); }})()"
    )
    page.wait_for(
        f"document.querySelector('#watchlists output')?.textContent.includes('{SYMBOL}')",
        "the instant check",
    )
    check = page.js("document.querySelector('#watchlists output').textContent")
    assert "binance" in check, check
    started = on_host(host, "import time\nprint(json.dumps(time.time()))")
    page.js("document.querySelector('#watchlists [id$=-symbol]').form.requestSubmit()")
    page.wait_for(
        f"document.querySelector('#watchlists .items')?.textContent.includes('{SYMBOL}')",
        "the symbol listed",
    )
    got = on_host(
        host,
        f"""
        symbol, start_wall = {SYMBOL!r}, {started}
        start, seen_after = time.monotonic(), None
        while time.monotonic() - start < 10:
            # Demo points are stamped on the 1 s tick grid: at most 1 s before emission.
            if [p for p in points("markets", symbol) if p["time"] >= (start_wall - 1) * 1e9]:
                seen_after = time.time() - start_wall
                break
            time.sleep(0.25)
        print(json.dumps(seen_after))
        """,
    )
    assert got is not None, f"{SYMBOL} was never collected"
    print(f"{SYMBOL} collected {got:.2f} s after the browser's submit")
    assert got <= 5.0

    # A price alert on it.
    page.js(
        "(() => { const form = document.getElementById('alert-create');"
        f" form.elements.name.value = '{ALERT}';"
        " form.elements.asset_type.value = 'crypto';"
        f" form.elements.symbol.value = '{SYMBOL}';"
        " form.elements.condition.value = 'above';"
        " form.elements.condition.dispatchEvent(new Event('change'));"
        " form.elements.threshold.value = '1000';"
        " form.requestSubmit(); })()"
    )
    page.wait_for(
        f"document.getElementById('alerts').textContent.includes('{ALERT}')", "the alert listed"
    )

    # A layout: the default panels (price chart, candles) for the symbol. Saving it
    # writes the person's own dashboard into their folder in Grafana.
    page.js(
        "(() => { const form = document.getElementById('layout-create');"
        f" form.elements.name.value = '{LAYOUT}';"
        " form.elements.asset_type.value = 'crypto';"
        f" form.elements.symbol.value = '{TYPED}';"
        " document.getElementById('layout-add-symbol').click(); })()"
    )
    page.wait_for(
        f"document.getElementById('layout-symbols').textContent.includes('{SYMBOL}')",
        "the symbol in the new layout",
    )
    page.js("document.getElementById('layout-create').requestSubmit()")
    page.wait_for(
        "document.querySelector('#layouts a[data-dashboard-uid]') !== null",
        "the layout's dashboard in Grafana",
    )
    uid = page.js("document.querySelector('#layouts a[data-dashboard-uid]').dataset.dashboardUid")
    href = page.js("document.querySelector('#layouts a[data-dashboard-uid]').getAttribute('href')")
    assert href == f"/d/{uid}", href
    saved = page.js(
        f"fetch('/api/dashboards/uid/{uid}').then(async r => ({{status: r.status, body: await r.json()}}))"
    )
    assert saved["status"] == 200, saved
    me = _api(page, "GET", "me")["body"]
    assert saved["body"]["meta"]["folderUid"] == f"bbdash-desk-{me['id']}"
    titles = [panel["title"] for panel in saved["body"]["dashboard"]["panels"]]
    assert titles == [f"{SYMBOL} price", f"{SYMBOL} OHLC"], titles

    # Custom series: a write token for their own bucket, shown once with a copy-paste
    # example, and a point written with it through nginx's public write path.
    token, example = _custom_token(page)
    assert "custom_trader" in example and "/influxdb/api/v2/write" in example, example
    line = f"{CUSTOM_MEASUREMENT},source=browser value=42.5"
    assert _write_custom(page, token, "custom_trader", line) == 204
    stored = on_host(host, 'print(json.dumps(points("custom_trader")))')
    assert [p for p in stored if p["measurement"] == CUSTOM_MEASUREMENT], stored
    # The token writes their bucket only.
    assert _write_custom(page, token, "markets", line) in (401, 403)
    # The Custom series dashboard reads their bucket (custom_${__user.login}).
    custom_board = page.js(
        "fetch('/api/dashboards/uid/bbdash-custom').then(async r => ({status: r.status, body: await r.json()}))"
    )
    assert custom_board["status"] == 200, custom_board
    assert "custom_${__user.login}" in json.dumps(custom_board["body"]["dashboard"])

    page.screenshot(ARTIFACTS / "desk.png")
    assert (ARTIFACTS / "desk.png").stat().st_size > 10_000

    # Deleting the token (its button) stops its writes.
    page.js(
        f"document.querySelector('#custom-tokens button[aria-label=\"Delete token {CUSTOM_TOKEN}\"]').click()"
    )
    page.wait_for(
        f"!document.getElementById('custom-tokens').textContent.includes('{CUSTOM_TOKEN}')",
        "token deleted",
    )
    assert _write_custom(page, token, "custom_trader", line) == 401

    # A second watchlist comes last; its "up" button puts it first.
    page.js(
        f"document.getElementById('watchlist-name').value = '{SECOND}';"
        "document.getElementById('watchlist-create').requestSubmit()"
    )
    order = "[...document.querySelectorAll('#watchlists h3')].map(h => h.firstChild.textContent)"
    page.wait_for(f"{order}.join() === '{WATCHLIST},{SECOND}'", "the second watchlist, last")
    page.js(f"document.querySelector('button[aria-label=\"Move {SECOND} up\"]').click()")
    page.wait_for(f"{order}.join() === '{SECOND},{WATCHLIST}'", "the second watchlist, first")
    page.js(f"document.querySelector('button[aria-label=\"Delete watchlist {SECOND}\"]').click()")
    page.wait_for(f"{order}.join() === '{WATCHLIST}'", "the second watchlist deleted")

    # Theirs alone: the admin's declared watchlists are not on this desk.
    assert "demo-crypto" not in page.js("document.getElementById('watchlists').textContent")
    mine = _api(page, "GET", "watchlists?limit=200")["body"]["data"]
    assert [w["name"] for w in mine] == [WATCHLIST]

    # Deleting through the buttons (the confirm dialog is accepted).
    page.js("document.querySelector('#alerts button.danger').click()")
    page.wait_for(
        f"!document.getElementById('alerts').textContent.includes('{ALERT}')", "alert deleted"
    )
    page.js("document.querySelector('#layouts button.danger').click()")
    page.wait_for(
        f"!document.getElementById('layouts').textContent.includes('{LAYOUT}')", "layout deleted"
    )
    gone = "fetch('/api/dashboards/uid/" + uid + "').then(r => r.status)"
    deadline = time.monotonic() + 5
    while page.js(gone) != 404:
        assert time.monotonic() < deadline, "the layout's dashboard is still in Grafana"
        time.sleep(0.2)
    page.js("document.querySelector('#watchlists button.danger').click()")
    page.wait_for(
        f"!document.getElementById('watchlists').textContent.includes('{WATCHLIST}')",
        "watchlist deleted",
    )
    assert page.console == [], page.console


def test_without_a_session_the_desk_sends_the_person_to_grafanas_login(
    page: Page, site_name: str
) -> None:
    page.command("Network.enable")
    page.command("Network.clearBrowserCookies")
    page.navigate(f"https://{site_name}/watchlist-api/desk")
    link = page.js("document.querySelector('a[href$=\"login\"]')?.getAttribute('href')")
    assert link == "/login"
    page.screenshot(ARTIFACTS / "desk-signed-out.png")
