"""CryptoPanic API v2 (`GET /api/<plan>/v2/posts/`), which needs an auth token on every plan.

Response: `{"next": ..., "previous": ..., "results": [post, ...]}`; a post has
`title`, `published_at` (RFC 3339), `url` (the CryptoPanic page) and, on plans
that expose it, `original_url`; the coins it is about are listed under
`instruments` (v2) or `currencies` (v1 shape), each with a `code` ("BTC").
Errors come back as `{"status": "api_error", "info": "..."}` or non-2xx.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bbdash.news_feeder.sources import ParseResult, PayloadError, json_list, load_json_object
from bbdash.news_feeder.sources.text import clean_text, parse_rfc3339

SOURCE = "cryptopanic"


def request_params(
    token: str, *, currencies: list[str], kind: str = "news", public: bool = True
) -> dict[str, str]:
    """Query string of one posts request (currencies: watched crypto codes, may be empty)."""
    params = {"auth_token": token, "kind": kind}
    if public:
        params["public"] = "true"
    if currencies:
        # The API takes at most 50 codes; more would be refused, so keep the first 50 sorted.
        params["currencies"] = ",".join(sorted(set(currencies))[:50])
    return params


def parse_posts(content: bytes, *, now: datetime | None = None) -> ParseResult:
    """Articles of one posts response."""
    payload = load_json_object(content, SOURCE)
    if payload.get("status") == "api_error" or "results" not in payload:
        info = clean_text(payload.get("info") or payload.get("detail") or "no results")
        raise PayloadError("cryptopanic: error document", kind="api_error", detail=info)
    results = json_list(payload, "results", SOURCE)
    fetched = now or datetime.now(UTC)
    out = ParseResult()
    for post in out.objects(results):
        title = clean_text(post.get("title"))
        url = str(post.get("original_url") or post.get("url") or "").strip()
        published = parse_rfc3339(post.get("published_at")) or parse_rfc3339(post.get("created_at"))
        if out.admit(title, url):
            out.add(
                SOURCE,
                title,
                url,
                published,
                fetched=fetched,
                summary=post.get("description"),
                category_hint="crypto",
                symbols_hint=_codes(post),
            )
    return out


def _codes(post: dict[str, object]) -> tuple[str, ...]:
    codes: list[str] = []
    for key in ("instruments", "currencies"):
        items = post.get(key)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("code"), str):
                    codes.append(item["code"].upper())
    return tuple(dict.fromkeys(codes))
