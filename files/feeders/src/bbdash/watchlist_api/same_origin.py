"""Cross-site request forgery: a write signed by a browser's cookie must come from a page
of this site.

A cookie travels with every request the browser makes to the host, whichever site
started it; an API key never does, so only cookie-authenticated requests are checked.
The rule is Grafana's own CSRF check (grafana/grafana v12.4.3,
``pkg/middleware/csrf/csrf.go``: the Origin's host must equal the request's Host,
port ignored), made stricter in two ways: a write that carries no ``Origin`` is
refused (every browser sends one on a POST, PUT, PATCH or DELETE, fetch or form;
Grafana lets it through), and so is one whose ``Sec-Fetch-Site`` says another site
started it. Reads (GET, HEAD, OPTIONS) change nothing and are not checked.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers

from bbdash.watchlist_api.problems import ProblemError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})


def _hostname(authority: str) -> str:
    return (urlsplit(f"//{authority}").hostname or "").lower()


def check_same_origin(method: str, headers: Headers) -> None:
    """Raises a 403 problem when a cookie-signed write did not come from this site."""
    if method in SAFE_METHODS:
        return
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in _SAME_SITE_FETCH:
        raise _refused(f"the browser says another site sent it (Sec-Fetch-Site: {fetch_site})")
    origin = headers.get("origin")
    if not origin or origin == "null":
        raise _refused("a write signed by a Grafana session must carry this site's Origin")
    host = _hostname(headers.get("host", ""))
    try:
        origin_host = (urlsplit(origin).hostname or "").lower()
    except ValueError:
        origin_host = ""
    if not host or origin_host != host:
        raise _refused(f"Origin {origin!r} is not this site")


def _refused(detail: str) -> ProblemError:
    return ProblemError(403, f"cross-site request refused: {detail}", kind="cross-site")
