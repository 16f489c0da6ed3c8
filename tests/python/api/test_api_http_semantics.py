"""HTTP semantics a client relies on (issue 11's hostile-input review, findings on
405, HEAD, the trailing-slash redirect and If-Match). Each test failed before its fix:
- every 405 carried an empty `Allow:` (FastAPI 0.165 nests included routers);
- HEAD on a GET route answered 405 (RFC 9110 section 9.3.2: answer it as GET, no body);
- `/v1/watchlists/` redirected to an absolute URL built from the Host header,
  which behind nginx also lost the /watchlist-api/ prefix and https;
- PUT .../by-name/{name} ignored If-Match;
- a 500 closed the keep-alive connection without `Connection: close`.
"""

from __future__ import annotations

import pytest
from api_support import ApiUser
from bbdash.watchlist_api.app import create_app
from bbdash.watchlist_api.db import get_database
from bbdash.watchlist_api.settings import Settings
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/watchlists", "GET, HEAD, POST"),
        ("DELETE", "/healthz", "GET, HEAD"),
        ("PATCH", "/v1/layouts", "GET, HEAD, POST"),
        ("POST", "/v1/watchlists/1", "DELETE, GET, HEAD, PATCH"),
    ],
)
def test_a_405_names_every_method_the_path_answers(
    client: TestClient, alice: ApiUser, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path, headers=alice.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/v1/watchlists", "/v1/layouts"])
def test_head_answers_like_get_without_the_body(
    client: TestClient, alice: ApiUser, path: str
) -> None:
    got = client.get(path, headers=alice.headers)
    head = client.head(path, headers=alice.headers)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]


def test_head_on_a_path_without_get_is_still_a_405(client: TestClient, admin: ApiUser) -> None:
    response = client.head("/v1/users/1/api-keys/1", headers=admin.headers)
    assert response.status_code == 405
    assert "HEAD" not in response.headers["allow"]


def test_a_trailing_slash_redirects_relative_to_the_url_the_client_used(
    client: TestClient, alice: ApiUser
) -> None:
    response = client.get(
        "/v1/watchlists/?limit=5",
        headers={**alice.headers, "Host": "attacker.example"},
        follow_redirects=False,
    )
    assert response.status_code == 308
    # Resolved by the client against https://host/watchlist-api/v1/watchlists/ it stays
    # on that host, scheme and prefix; the Host header is never echoed back.
    assert response.headers["location"] == "../watchlists?limit=5"
    followed = client.get("/v1/watchlists/", headers=alice.headers)
    assert followed.status_code == 200 and followed.url.path == "/v1/watchlists"


@pytest.mark.parametrize("path", ["/v1/nothing/", "/v1/watchlists//", "/"])
def test_only_a_single_slash_after_an_existing_path_redirects(
    client: TestClient, alice: ApiUser, path: str
) -> None:
    response = client.get(path, headers=alice.headers, follow_redirects=False)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("url", "body", "key"),
    [
        ("/v1/watchlists/by-name/Core", {"items": [], "description": "a"}, "watchlist"),
        (
            "/v1/alert-rules/by-name/btc up",
            {
                "symbol": "BTC/USDT",
                "asset_type": "crypto",
                "condition": "above",
                "threshold": 100.0,
                "channels": ["telegram"],
            },
            "alert_rule",
        ),
    ],
)
def test_a_declarative_put_honours_if_match(
    client: TestClient, alice: ApiUser, url: str, body: dict[str, object], key: str
) -> None:
    """The review found PUT .../by-name/{name} ignoring If-Match: a client that read
    version 1 overwrote whatever another client had written since."""
    absent = client.put(url, json=body, headers={**alice.headers, "If-Match": '"v1"'})
    assert absent.status_code == 412  # nothing to match (RFC 9110 section 13.1.1)
    created = client.put(url, json=body, headers=alice.headers)
    assert created.status_code == 200 and created.json()["created"] is True
    etag = created.headers["etag"]
    changed = {**body, "description": "b"} if key == "watchlist" else {**body, "threshold": 200.0}
    moved = client.put(url, json=changed, headers={**alice.headers, "If-Match": etag})
    assert moved.status_code == 200 and moved.json()["changed"] is True
    # The first client still holds the old ETag: refused, and nothing is written.
    stale = client.put(url, json=body, headers={**alice.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.headers["etag"] == moved.headers["etag"]
    current = client.put(url, json=changed, headers=alice.headers, params={"dry_run": "true"})
    assert current.json()["changed"] is False


def test_a_500_says_the_connection_closes(settings: Settings) -> None:
    """uvicorn closes the connection after an unhandled error (Starlette re-raises it
    once the 500 is sent); the review found the 500 not saying so."""
    app = create_app(settings)

    def broken() -> None:
        raise RuntimeError("a bug")

    app.dependency_overrides[get_database] = broken
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/healthz")
    assert response.status_code == 500
    assert response.headers["connection"] == "close"
    assert response.headers["content-type"] == "application/problem+json"
