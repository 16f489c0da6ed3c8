"""The Grafana HTTP API calls the project makes, as a client sees them.

grafana-client (PyPI) was the first choice, but it depends on niquests and
urllib3-future, and urllib3-future installs its own `urllib3` package over the
one requests and schemathesis need: on a fresh install the API fuzz suite broke.
This module does the same calls with requests and raises what a client sees:
the status code and the decoded JSON body of every refusal.
"""

from __future__ import annotations

from typing import Any

import requests


class GrafanaError(Exception):
    """A 4xx or 5xx answer: its status and its JSON (or text) body."""

    def __init__(self, status_code: int, response: Any) -> None:
        super().__init__(f"HTTP {status_code}: {response}")
        self.status_code = status_code
        self.response = response


class GrafanaBadInputError(GrafanaError):
    """400"""


class GrafanaUnauthorizedError(GrafanaError):
    """401"""


_BY_STATUS: dict[int, type[GrafanaError]] = {
    400: GrafanaBadInputError,
    401: GrafanaUnauthorizedError,
}


class GrafanaHTTP:
    """GET/POST/PUT under /api with optional basic auth."""

    def __init__(self, port: int, auth: tuple[str, str] | None) -> None:
        self.base = f"http://127.0.0.1:{port}/api"
        self.auth = auth

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = requests.request(method, self.base + path, auth=self.auth, timeout=10, **kwargs)
        try:
            body: Any = reply.json()
        except ValueError:
            body = reply.text
        if reply.status_code >= 400:
            raise _BY_STATUS.get(reply.status_code, GrafanaError)(reply.status_code, body)
        return body

    def GET(self, path: str, **kwargs: Any) -> Any:  # noqa: N802 - the HTTP verb
        return self.call("GET", path, **kwargs)

    def POST(self, path: str, **kwargs: Any) -> Any:  # noqa: N802
        return self.call("POST", path, **kwargs)

    def actual_user(self) -> Any:
        return self.GET("/user")

    def change_user_password(self, user_id: int, password: str) -> Any:
        return self.call("PUT", f"/admin/users/{user_id}/password", json={"password": password})

    def search_dashboards(
        self,
        query: str | None = None,
        type_: str | None = None,
        dashboard_uids: list[str] | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> Any:
        params: dict[str, Any] = {
            "query": query,
            "type": type_,
            "dashboardUIDs": dashboard_uids,
            "limit": limit,
            "page": page,
        }
        return self.GET("/search", params={k: v for k, v in params.items() if v is not None})
