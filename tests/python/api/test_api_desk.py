"""The "My desk" page (GET /desk, /watchlist-api/desk behind nginx): one HTML page per
signed-in person, its script and stylesheet, their security headers, and the
refusals a browser gets as HTML. Sessions come from the Grafana TEST DOUBLE
(grafana_double.py); the database is real PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from api_support import ApiUser, ApiWith, make_settings
from bbdash.watchlist_api.desk import router as desk_router
from fastapi.testclient import TestClient
from grafana_double import COOKIE, GrafanaDouble

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
STATIC = Path(desk_router.__file__).parent / "static"
MALLORY_NAME = "<script>alert('x')</script> Mallory & Co"


@pytest.fixture(scope="module")
def people(grafana: GrafanaDouble) -> dict[str, str]:
    passwords = {"carol": "carol-password-1", "dave": "dave-password-1", "mallory": "mal-pass-1"}
    grafana.create_user("carol", passwords["carol"])
    grafana.create_user("dave", passwords["dave"])
    status, doc, _ = grafana.call(
        "POST",
        "/api/admin/users",
        {
            "name": MALLORY_NAME,
            "email": "mallory@example.test",
            "login": "mallory",
            "password": passwords["mallory"],
        },
    )
    assert status == 200, doc
    return passwords


@pytest.fixture
def desk(api_with: ApiWith, grafana: GrafanaDouble) -> Iterator[TestClient]:
    """The API wired to Grafana with its default cache of Grafana's answers (5 s)."""
    with api_with(grafana_url=grafana.url) as client:
        yield client


def as_browser(cookie: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={cookie}", "Accept": "text/html"}


def assert_security_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["content-security-policy"] == CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


class _Page(HTMLParser):
    """What the page is made of: its tags, the labels' targets, inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.label_for: set[str] = set()
        self.open_labels = 0
        self.unlabelled: list[dict[str, str | None]] = []
        self.inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "label":
            self.open_labels += 1
            if found.get("for"):
                self.label_for.add(str(found["for"]))
        if tag in {"input", "select", "textarea"} and not self.open_labels:
            self.unlabelled.append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1

    def handle_data(self, data: str) -> None:
        if self.lasttag == "script" and data.strip():
            self.inline_script = True


def parse(text: str) -> _Page:
    parsed = _Page()
    parsed.feed(text)
    return parsed


# --------------------------------------------------------------------------- the page


def test_the_desk_greets_the_signed_in_person(
    desk: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    response = desk.get("/desk", headers=as_browser(grafana.sign_in("carol", people["carol"])))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Signed in as <strong" in response.text
    assert ">Carol</strong> (carol)" in response.text
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"
    assert "cookie" in response.headers["vary"].lower()


def test_the_display_name_is_escaped(
    desk: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    cookie = grafana.sign_in("mallory", people["mallory"])
    response = desk.get("/desk", headers=as_browser(cookie))
    assert response.status_code == 200, response.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Mallory &amp; Co" in response.text
    assert "<script>alert" not in response.text
    assert not parse(response.text).inline_script


def test_the_page_references_its_files_relatively_and_inlines_nothing(
    desk: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    text = desk.get("/desk", headers=as_browser(grafana.sign_in("carol", people["carol"]))).text
    page = parse(text)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"type": "module", "src": "desk/static/desk.js"}]
    sheets = [attrs["href"] for tag, attrs in page.tags if tag == "link"]
    assert sheets == ["desk/static/desk.css"]
    assert not page.inline_script
    assert "<style" not in text
    assert not any("style" in attrs for _, attrs in page.tags)
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    # Nothing absolute to the API: it is reached relatively, under nginx's prefix too.
    assert "/v1/" not in text
    assert not re.search(r"https?://", text)


def test_every_field_has_a_label_and_every_control_is_a_button(
    desk: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    text = desk.get("/desk", headers=as_browser(grafana.sign_in("carol", people["carol"]))).text
    page = parse(text)
    for field in page.unlabelled:
        assert field.get("id") in page.label_for, field
    assert page.unlabelled  # the text inputs and selects, labelled by for=
    live = [attrs for _, attrs in page.tags if attrs.get("aria-live") == "polite"]
    assert any(attrs.get("id") == "status" for attrs in live)
    forms = [attrs for tag, attrs in page.tags if tag == "form"]
    assert {f["id"] for f in forms} == {"watchlist-create", "alert-create", "layout-create"}
    buttons = [attrs for tag, attrs in page.tags if tag == "button"]
    submits = [b for b in buttons if b["type"] == "submit"]
    assert len(submits) == 3  # Enter submits each form
    # The layout's symbol is added by its own button (Enter in the symbol field too).
    assert [b.get("id") for b in buttons if b["type"] == "button"] == ["layout-add-symbol"]
    assert 'href="/"' in text  # back to Grafana
    assert 'data-grafana-root="/"' in text


def test_the_page_offers_every_channel_and_condition_the_schema_allows(
    desk: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    text = desk.get("/desk", headers=as_browser(grafana.sign_in("carol", people["carol"]))).text
    for channel in ("telegram", "email", "webhook"):
        assert f'name="channels" value="{channel}"' in text
    for condition in ("above", "below", "pct_move"):
        assert f'<option value="{condition}">' in text
    for asset_type in ("crypto", "stock", "forex", "index"):
        assert f'<option value="{asset_type}">' in text


def test_a_second_person_never_sees_the_first_persons_name(
    desk: TestClient, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    carol = desk.get("/desk", headers=as_browser(grafana.sign_in("carol", people["carol"])))
    dave = desk.get("/desk", headers=as_browser(grafana.sign_in("dave", people["dave"])))
    again = desk.get("/desk", headers=as_browser(grafana.sign_in("carol", people["carol"])))
    assert ">Carol</strong>" in carol.text
    assert ">Dave</strong>" in dave.text
    assert "Carol" not in dave.text
    assert "carol" not in dave.text
    assert "Dave" not in again.text


def test_an_api_key_caller_gets_the_page_too(client: TestClient, alice: ApiUser) -> None:
    response = client.get("/desk", headers=alice.headers)
    assert response.status_code == 200
    assert ">alice</strong> (alice)" in response.text


def test_grafana_public_path_sets_the_links_and_the_rotation_root(
    api_with: ApiWith, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    with api_with(grafana_url=grafana.url, grafana_public_path="/grafana/") as client:
        cookie = grafana.sign_in("carol", people["carol"])
        signed = client.get("/desk", headers=as_browser(cookie)).text
        assert 'data-grafana-root="/grafana/"' in signed
        assert 'href="/grafana/"' in signed
        assert 'href="/grafana/login"' in client.get("/desk").text


def test_the_setting_refuses_a_path_that_is_not_one() -> None:
    with pytest.raises(ValueError, match="grafana_public_path"):
        make_settings("postgresql://x/y", Path("/nonexistent"), grafana_public_path="https://x/")


# --------------------------------------------------------------------------- refusals


def test_without_a_session_the_page_is_a_401_html_link_to_the_login(desk: TestClient) -> None:
    response = desk.get("/desk")
    assert response.status_code == 401
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'href="/login"' in response.text
    assert "problem" not in response.headers["content-type"]
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"


def test_an_ended_session_is_a_401_html_page(desk: TestClient) -> None:
    response = desk.get("/desk", headers=as_browser("0123456789abcdef0123456789abcdef"))
    assert response.status_code == 401
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'href="/login"' in response.text
    assert_security_headers(response)


def test_a_session_due_for_rotation_gets_the_page_that_rotates_it(
    api_with: ApiWith, grafana: GrafanaDouble, people: dict[str, str]
) -> None:
    with api_with(grafana_url=grafana.url, session_cache_seconds=0) as client:
        cookie = grafana.sign_in("dave", people["dave"])
        grafana.age_sessions()
        due = client.get("/desk", headers=as_browser(cookie))
        assert due.status_code == 401
        assert due.headers["content-type"] == "text/html; charset=utf-8"
        assert 'data-page="rotate"' in due.text
        assert 'src="desk/static/desk.js"' in due.text  # the script rotates, then reloads
        assert 'href="/login"' in due.text
        rotated = grafana.rotate(cookie)
        assert client.get("/desk", headers=as_browser(rotated)).status_code == 200


def test_grafana_down_is_a_503_html_page(api_with: ApiWith) -> None:
    with api_with(grafana_url="http://127.0.0.1:9", grafana_timeout_seconds=0.5) as client:
        response = client.get("/desk", headers=as_browser("0123456789abcdef0123456789abcdef"))
        assert response.status_code == 503
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["retry-after"] == "5"
        assert "Grafana cannot be asked" in response.text
        assert_security_headers(response)


def test_a_trailing_slash_redirects_relatively(desk: TestClient) -> None:
    response = desk.get("/desk/", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "../desk"


# --------------------------------------------------------------------------- static files


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("desk.js", "text/javascript; charset=utf-8"), ("desk.css", "text/css; charset=utf-8")],
)
def test_the_static_files_are_served_with_their_type_and_the_policy(
    desk: TestClient, name: str, media_type: str
) -> None:
    response = desk.get(f"/desk/static/{name}")  # no session needed: the same for everyone
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == (STATIC / name).read_bytes()
    assert_security_headers(response)
    # Not content-hashed in its URL: revalidated on every use, by its ETag.
    assert response.headers["cache-control"] == "no-cache"
    etag = response.headers["etag"]
    cached = desk.get(f"/desk/static/{name}", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert_security_headers(cached)


def test_an_unknown_static_file_is_a_404_with_the_policy(desk: TestClient) -> None:
    for name in ("other.js", "..%2Fpage.py", "desk.js.map"):
        response = desk.get(f"/desk/static/{name}")
        assert response.status_code == 404
        assert_security_headers(response)


def test_the_desk_routes_stay_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert "/v1/symbols/check" in paths
    assert not [path for path in paths if path.startswith("/desk")]


def test_the_package_ships_the_static_files() -> None:
    pyproject = (Path(__file__).resolve().parents[3] / "files/feeders/pyproject.toml").read_text()
    assert '"bbdash.watchlist_api.desk" = ["static/*.js", "static/*.css"]' in pyproject
    assert (STATIC / "desk.js").is_file()
    assert (STATIC / "desk.css").is_file()


# --------------------------------------------------------------------------- the script


def test_the_script_builds_no_markup_from_data_and_calls_nothing_absolute() -> None:
    script = (STATIC / "desk.js").read_text()
    for forbidden in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "http://",
        "https://",
    ):
        assert forbidden not in script, forbidden
    assert not re.search(r"setTimeout\(\s*['\"`]", script)  # a string timer is an eval
    # The API by relative URLs, Grafana's rotation under the configured root.
    assert re.search(r"[\"`]v1/watchlists", script)
    assert "api/user/auth-tokens/rotate" in script
    assert 'credentials: "same-origin"' in script
    assert "session-rotation" in script
    assert "Your Grafana session ended: " in script
    assert "v1/symbols/check" in script


def test_the_stylesheet_loads_nothing_from_elsewhere() -> None:
    css = (STATIC / "desk.css").read_text()
    assert "@import" not in css
    assert "url(" not in css
