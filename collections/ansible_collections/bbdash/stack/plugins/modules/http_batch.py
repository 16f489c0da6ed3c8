#!/usr/bin/python
"""Ansible module http_batch: several HTTP requests from the host in one call."""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.error import HTTPError

DOCUMENTATION = r"""
module: http_batch
author: Bloomberg Dashboard contributors
short_description: Send several HTTP requests from the host in one call
description:
  - One module call where a loop of C(ansible.builtin.uri) makes one per request, for the
    lookups a role makes before it decides what to change (an API's objects, a token
    tried for what it is meant to do).
  - Requests are sent in the order given, each on its own; one that fails (a status not
    in its status_code, or no answer) does not stop the others, and the call fails at
    the end, listing them, unless fail is false.
  - In check mode, requests whose method is not GET or HEAD are not sent (their result
    says skipped); set check_mode false on the task to read in check mode as usual.
options:
  requests:
    description:
      - Each a dict. C(url) (required); C(method) (GET); C(headers); C(body) and
        C(body_format) (raw or json, as C(ansible.builtin.uri)); C(status_code), the
        statuses that count as success (a number or a list; 200); C(url_username),
        C(url_password) and C(force_basic_auth), as C(ansible.builtin.uri); C(timeout) in
        seconds (10); C(item), any value returned as it is in the request's result.
    type: list
    elements: dict
    required: true
  fail:
    description: Fail the call when a request failed (after sending all of them).
    type: bool
    default: true
  validate_certs:
    description: Check the servers' TLS certificates.
    type: bool
    default: true
attributes:
  check_mode:
    support: partial
    details: only GET and HEAD requests are sent in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Look up the folders
  bbdash.stack.http_batch:
    requests:
      - {url: "http://127.0.0.1:3000/api/folders/markets", status_code: [200, 404], item: markets}
      - {url: "http://127.0.0.1:3000/api/folders/desk", status_code: [200, 404], item: desk}
  register: folder_lookup
  check_mode: false
"""

RETURN = r"""
results:
  description:
    - One per request, in the order given. C(url); C(status) (-1 when no answer came);
      C(json) when the answer parses as JSON; C(content), the answer's text; C(msg);
      C(failed); C(skipped) for a request check mode did not send; C(item) when given.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.urls import open_url  # noqa: E402

READ_METHODS = ("GET", "HEAD")


def statuses(value: Any) -> list[int]:
    if value is None:
        return [200]
    if isinstance(value, (list, tuple)):
        return [int(code) for code in value]
    return [int(value)]


def encoded_body(request: dict[str, Any]) -> tuple[bytes | None, dict[str, str]]:
    """The body as bytes, with the Content-Type JSON gets when none is given."""
    body = request.get("body")
    headers = {str(key): str(value) for key, value in (request.get("headers") or {}).items()}
    if request.get("body_format", "raw") == "json":
        has_type = any(key.lower() == "content-type" for key in headers)
        if not has_type:
            headers["Content-Type"] = "application/json"
        text = body if isinstance(body, str) else json.dumps(body)
        return text.encode("utf-8"), headers
    if body is None:
        return None, headers
    return (body if isinstance(body, bytes) else str(body).encode("utf-8")), headers


def answer(result: dict[str, Any], status: int, raw: bytes) -> None:
    """Status and text of an answer, and its JSON when it parses (not JSON: no json key)."""
    text = raw.decode("utf-8", errors="replace")
    result["status"] = status
    result["content"] = text
    if text.strip():
        with contextlib.suppress(ValueError):
            result["json"] = json.loads(text)


def send(module: AnsibleModule, request: dict[str, Any]) -> dict[str, Any]:
    if not request.get("url"):
        module.fail_json(msg=f"every request needs a url: {sorted(request)}")
    method = str(request.get("method") or "GET").upper()
    result: dict[str, Any] = {"url": request["url"], "status": -1, "failed": False}
    if "item" in request:
        result["item"] = request["item"]
    if module.check_mode and method not in READ_METHODS:
        result.update(skipped=True, msg=f"{method} not sent in check mode")
        return result
    data, headers = encoded_body(request)
    try:
        response = open_url(
            request["url"],
            data=data,
            headers=headers,
            method=method,
            url_username=request.get("url_username"),
            url_password=request.get("url_password"),
            force_basic_auth=bool(request.get("force_basic_auth", False)),
            timeout=float(request.get("timeout", 10)),
            validate_certs=module.params["validate_certs"],
            follow_redirects="safe",
        )
        answer(result, response.getcode(), response.read())
        result["msg"] = f"OK ({result['status']})"
    except HTTPError as error:
        answer(result, error.code, error.read() or b"")
        result["msg"] = f"HTTP Error {error.code}: {error.reason}"
    except Exception as error:
        result["msg"] = f"Request failed: {error}"
    if result["status"] not in statuses(request.get("status_code")):
        result["failed"] = True
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "requests": {"type": "list", "elements": "dict", "required": True},
            "fail": {"type": "bool", "default": True},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    results = [send(module, request) for request in module.params["requests"]]
    sent = [r for r in results if not r.get("skipped")]
    changed = any(
        str(request.get("method") or "GET").upper() not in READ_METHODS
        for request, result in zip(module.params["requests"], results, strict=True)
        if not result.get("skipped") and not result["failed"]
    )
    failed = [r for r in sent if r["failed"]]
    if failed and module.params["fail"]:
        module.fail_json(
            msg="; ".join(f"{r['url']}: {r['msg']}" for r in failed),
            results=results,
            changed=changed,
        )
    module.exit_json(changed=changed, results=results)


if __name__ == "__main__":
    main()
