"""Filters of the influxdb role: InfluxDB durations, input checks, and the plans
that turn what the API lists into the few calls that make it match the
variables (create / update / replace / delete). Pure functions of their
arguments, so the role stays idempotent and the logic is unit-tested
(tests/static/test_data_influxdb_role.py)."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # imported by the static tests without Ansible's loader
    AnsibleFilterError = ValueError  # type: ignore[misc,assignment]

# The tasks' Flux comes from the feeders' package, where the market feeder renders
# the same query over the ranges late points changed: one source for both.
_FEEDERS_SRC = str(Path(__file__).resolve().parents[3] / "files" / "feeders" / "src")
if _FEEDERS_SRC not in sys.path:
    sys.path.insert(0, _FEEDERS_SRC)
from bbdash.downsample.flux import task_flux  # noqa: E402

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_INFINITE = {"0", "inf", "infinite", "forever", "none", ""}
HOUR = 3600
DAY = 86400
# Aggregates a downsampling task may use (Flux functions of numeric columns).
# "candles": open/high/low/close of the price and the last of every other field.
TASK_FUNCTIONS = ("candles", "mean", "median", "min", "max", "sum", "count", "first", "last")
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_TOKEN_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Token names the role defines itself (the watchlist API's token manager).
RESERVED_TOKENS = ("watchlist-api",)


def duration_seconds(value: Any) -> int:
    """InfluxDB retention and task durations in seconds: "7d" -> 604800, "1h30m" ->
    5400; 0, "0", "inf", "infinite" or None -> 0 (no expiry)."""
    if value is None or isinstance(value, bool):
        if value is None:
            return 0
        raise AnsibleFilterError(f"invalid duration {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise AnsibleFilterError(f"invalid duration {value!r}: negative")
        return value
    text = str(value).strip().lower()
    if text in _INFINITE:
        return 0
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        raise AnsibleFilterError(
            f"invalid duration {value!r}: use a number of w, d, h, m, s such as 7d, 1h30m, "
            "or 0 / infinite"
        )
    return sum(int(n) * _UNITS[u] for n, u in zip(match.groups(), "wdhms", strict=True) if n)


def _is_duration(value: Any) -> bool:
    try:
        duration_seconds(value)
    except AnsibleFilterError:
        return False
    return True


def default_shard_group_seconds(retention: int) -> int:
    """InfluxDB's default shard-group duration for a retention (0 = infinite)."""
    if retention == 0 or retention >= 180 * DAY:
        return 7 * DAY
    if retention >= 2 * DAY:
        return DAY
    return HOUR


def bucket_problems(buckets: list[dict[str, Any]]) -> list[str]:
    """Everything InfluxDB would refuse in influxdb_buckets, as messages naming the entry."""
    problems: list[str] = []
    if not isinstance(buckets, list) or not buckets:
        return ["influxdb_buckets must be a non-empty list of {name, retention}"]
    names = [b.get("name") for b in buckets if isinstance(b, dict)]
    for dup in sorted({n for n in names if names.count(n) > 1 and n}):
        problems.append(f"influxdb_buckets: bucket {dup!r} is listed twice")
    for index, bucket in enumerate(buckets):
        if not isinstance(bucket, dict):
            problems.append(f"influxdb_buckets[{index}] must be a mapping with name and retention")
            continue
        name = str(bucket.get("name", ""))
        where = f"influxdb_buckets[{name or index}]"
        if not _BUCKET_NAME.match(name):
            problems.append(
                f"{where}: name {name!r} must start with a letter or digit (names starting with _ "
                "are InfluxDB's system buckets) and hold only letters, digits, _ . -"
            )
        if "retention" not in bucket:
            problems.append(f"{where}: retention is missing (for example 7d, or infinite)")
            continue
        try:
            retention = duration_seconds(bucket["retention"])
        except AnsibleFilterError as exc:
            problems.append(f"{where}.retention: {exc}")
            continue
        if 0 < retention < HOUR:
            problems.append(
                f"{where}.retention is {bucket['retention']!r}: "
                "InfluxDB refuses a retention shorter "
                'than 1h ("retention policy duration must be at least 1h0m0s"); use 1h or more, '
                "or infinite"
            )
        if bucket.get("shard_group_duration") not in (None, ""):
            try:
                shard = duration_seconds(bucket["shard_group_duration"])
            except AnsibleFilterError as exc:
                problems.append(f"{where}.shard_group_duration: {exc}")
                continue
            if shard < HOUR:
                problems.append(f"{where}.shard_group_duration must be 1h or more")
            elif retention and shard > retention:
                problems.append(
                    f"{where}.shard_group_duration ({bucket['shard_group_duration']}) "
                    f"is longer than its retention ({bucket['retention']}): "
                    'InfluxDB refuses it ("retention policy '
                    'duration must be greater than the shard duration")'
                )
    return problems


def task_problems(tasks: list[dict[str, Any]], buckets: list[dict[str, Any]]) -> list[str]:
    """What would make a downsampling task fail: unknown buckets, bad durations or names."""
    problems: list[str] = []
    if not isinstance(tasks, list):
        return ["influxdb_downsample_tasks must be a list"]
    bucket_names = {b.get("name") for b in buckets if isinstance(b, dict)}
    names = [t.get("name") for t in tasks if isinstance(t, dict)]
    for dup in sorted({n for n in names if names.count(n) > 1 and n}):
        problems.append(f"influxdb_downsample_tasks: task {dup!r} is listed twice")
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            problems.append(f"influxdb_downsample_tasks[{index}] must be a mapping")
            continue
        name = str(task.get("name", ""))
        where = f"influxdb_downsample_tasks[{name or index}]"
        if not _TASK_NAME.match(name):
            problems.append(f"{where}: name {name!r} must hold only letters, digits, _ . -")
        for key in ("source", "destination"):
            value = task.get(key)
            if value not in bucket_names:
                problems.append(
                    f"{where}.{key} names bucket {value!r}, which is not in influxdb_buckets "
                    f"({', '.join(sorted(n for n in bucket_names if n))})"
                )
        if task.get("source") is not None and task.get("source") == task.get("destination"):
            problems.append(f"{where}: source and destination must be different buckets")
        for key in ("every", "window", "lookback"):
            value = task.get(key)
            if value in (None, "") or not _is_duration(value) or duration_seconds(value) == 0:
                problems.append(
                    f"{where}.{key} must be a duration such as 5m or 1h (got {value!r})"
                )
        if task.get("offset") not in (None, "") and not _is_duration(task.get("offset")):
            problems.append(
                f"{where}.offset must be a duration such as 30s (got {task.get('offset')!r})"
            )
        # Compare the durations only when this task's own are valid.
        durations_ok = not problems or all(not p.startswith(where) for p in problems)
        if durations_ok:
            every, window, lookback = (
                duration_seconds(task[k]) for k in ("every", "window", "lookback")
            )
            # Whole windows, and a trailing range that reaches back past the previous
            # run: the late-data path (bbdash.downsample.windows) counts on both.
            if every % window or lookback % window:
                problems.append(
                    f"{where}: every and lookback must be whole windows ({task['window']})"
                )
            elif lookback < every + window:
                problems.append(
                    f"{where}.lookback must cover every + one window ({every + window} s)"
                )
        if task.get("fn", "mean") not in TASK_FUNCTIONS:
            problems.append(
                f"{where}.fn must be one of {', '.join(TASK_FUNCTIONS)} (got {task.get('fn')!r})"
            )
        if not _IDENT.match(str(task.get("measurement", ""))):
            problems.append(
                f"{where}.measurement must be a measurement name (got {task.get('measurement')!r})"
            )
        if task.get("fn") == "candles" and task.get("fields"):
            problems.append(f"{where}: fn candles reads every field; drop fields")
        if task.get("source_holds_candles") not in (None, True, False):
            problems.append(f"{where}.source_holds_candles must be true or false")
        for field in task.get("fields") or []:
            if not _IDENT.match(str(field)):
                problems.append(f"{where}.fields: {field!r} is not a field name")
        if task.get("status", "active") not in ("active", "inactive"):
            problems.append(f"{where}.status must be active or inactive")
    return problems


def token_problems(tokens: list[dict[str, Any]], buckets: list[dict[str, Any]]) -> list[str]:
    """Least-privilege tokens: each names real buckets; writing to every bucket is refused."""
    problems: list[str] = []
    if not isinstance(tokens, list):
        return ["influxdb_tokens must be a list"]
    bucket_names = {b.get("name") for b in buckets if isinstance(b, dict)}
    names = [t.get("name") for t in tokens if isinstance(t, dict)]
    for dup in sorted({n for n in names if names.count(n) > 1 and n}):
        problems.append(f"influxdb_tokens: token {dup!r} is listed twice")
    for index, token in enumerate(tokens):
        if not isinstance(token, dict):
            problems.append(f"influxdb_tokens[{index}] must be a mapping")
            continue
        name = str(token.get("name", ""))
        where = f"influxdb_tokens[{name or index}]"
        if name in RESERVED_TOKENS:
            problems.append(
                f"{where}: the role creates the {name!r} token itself (influxdb_custom_users); "
                "use another name"
            )
        if not _TOKEN_NAME.match(name):
            problems.append(
                f"{where}: name {name!r} must be lower case letters, digits and dashes "
                "(it names the token file)"
            )
        read, write = token.get("read") or [], token.get("write") or []
        if not read and not write:
            problems.append(f"{where} grants nothing: give it read and/or write buckets")
        if "*" in write:
            problems.append(f"{where}.write: '*' (every bucket) is not allowed; name the buckets")
        for bucket in [*read, *write]:
            if bucket != "*" and bucket not in bucket_names:
                problems.append(
                    f"{where} names bucket {bucket!r}, which is not in influxdb_buckets"
                )
    return problems


def custom_buckets(users: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """One bucket per person who asked (custom_bucket: true): <prefix><login>, kept
    forever. Per person because InfluxDB scopes tokens by bucket: a person's write
    token can then reach their own series and nobody else's."""
    return [
        {
            "name": f"{prefix}{u['login']}",
            "retention": "infinite",
            "description": f"Custom series of {u['login']}",
        }
        for u in users or []
        if isinstance(u, dict) and u.get("login")
    ]


def custom_user_problems(
    users: list[dict[str, Any]], prefix: str, buckets: list[dict[str, Any]]
) -> list[str]:
    """What would make the custom buckets wrong: logins that do not make a bucket
    name, a configured bucket inside the prefix (the role deletes the undeclared
    ones there), a bad custom_max_series."""
    problems: list[str] = []
    if not isinstance(users, list):
        return ["influxdb_custom_users must be a list of {login, ...}"]
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$", str(prefix or "")):
        problems.append(
            f"influxdb_custom_bucket_prefix {prefix!r} must be a bucket name start: letters, "
            "digits, _ . -"
        )
        return problems
    logins = [u.get("login") for u in users if isinstance(u, dict)]
    for dup in sorted({str(n) for n in logins if n and logins.count(n) > 1}):
        problems.append(f"influxdb_custom_users: login {dup!r} is listed twice")
    for index, user in enumerate(users):
        login = str(user.get("login", "")) if isinstance(user, dict) else ""
        if not re.match(r"^[A-Za-z0-9_.-]{1,50}$", login):
            problems.append(
                f"influxdb_custom_users[{login or index}]: login {login!r} must be letters, "
                "digits, _ . - (it names the bucket)"
            )
        max_series = user.get("custom_max_series") if isinstance(user, dict) else None
        if max_series is not None and (
            isinstance(max_series, bool) or not str(max_series).isdigit() or int(max_series) < 1
        ):
            problems.append(
                f"influxdb_custom_users[{login or index}].custom_max_series must be a positive "
                f"integer (got {max_series!r})"
            )
    for bucket in buckets or []:
        name = str(bucket.get("name", "")) if isinstance(bucket, dict) else ""
        if name.startswith(prefix):
            problems.append(
                f"influxdb_buckets[{name}]: names starting with {prefix!r} are the per-person "
                "custom buckets, which the role deletes when their person is not declared; "
                "rename the bucket or influxdb_custom_bucket_prefix"
            )
    return problems


def bucket_plan(
    wanted: list[dict[str, Any]],
    existing: list[dict[str, Any]],
    org_id: str,
    owned_prefix: str = "",
) -> dict[str, list[dict[str, Any]]]:
    """The POST and PATCH calls that make the org's buckets match influxdb_buckets
    and the per-person custom buckets. Buckets not listed are left alone (never
    delete data) and reported, but for those whose name starts with `owned_prefix`
    (the custom buckets, custom_<login>): the role owns that name space, so such a bucket whose
    person is no longer declared is deleted with its data (to_delete)."""
    by_name = {b["name"]: b for b in existing if b.get("orgID") == org_id}
    create, update = [], []
    for bucket in wanted:
        retention = duration_seconds(bucket["retention"])
        shard = bucket.get("shard_group_duration")
        rule: dict[str, Any] = {"type": "expire", "everySeconds": retention}
        if shard not in (None, ""):
            rule["shardGroupDurationSeconds"] = duration_seconds(shard)
        description = str(bucket.get("description", ""))
        current = by_name.get(bucket["name"])
        if current is None:
            create.append(
                {
                    "name": bucket["name"],
                    "body": {
                        "orgID": org_id,
                        "name": bucket["name"],
                        "description": description,
                        "retentionRules": [rule],
                    },
                }
            )
            continue
        rules = current.get("retentionRules") or []
        have_retention = int(rules[0].get("everySeconds", 0)) if rules else 0
        have_shard = int(rules[0].get("shardGroupDurationSeconds", 0) or 0) if rules else 0
        body: dict[str, Any] = {}
        if have_retention != retention or (
            "shardGroupDurationSeconds" in rule and have_shard != rule["shardGroupDurationSeconds"]
        ):
            if "shardGroupDurationSeconds" not in rule:
                # A shorter retention than the stored shard duration is refused (422):
                # move the shard duration to InfluxDB's default for the new retention.
                rule["shardGroupDurationSeconds"] = default_shard_group_seconds(retention)
            body["retentionRules"] = [rule]
        if "description" in bucket and current.get("description", "") != description:
            body["description"] = description
        if body:
            update.append({"name": bucket["name"], "id": current["id"], "body": body})
    wanted_names = {b["name"] for b in wanted}
    left = sorted(
        n for n, b in by_name.items() if n not in wanted_names and b.get("type", "user") == "user"
    )
    owned = [n for n in left if owned_prefix and n.startswith(owned_prefix)]
    return {
        "to_create": create,
        "to_update": update,
        "to_delete": [{"name": n, "id": by_name[n]["id"]} for n in owned],
        "unmanaged": [n for n in left if n not in owned],
    }


def bucket_ids(buckets: list[dict[str, Any]], org_id: str) -> dict[str, str]:
    """Bucket name -> ID in the org."""
    return {b["name"]: b["id"] for b in buckets if b.get("orgID") == org_id}


def task_plan(
    wanted: list[dict[str, Any]], existing: list[dict[str, Any]], org_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The calls that make the org's tasks named in `wanted` ({name, flux, status,
    description}) match: create, update (flux, status or description differ), and
    delete duplicates of a managed name."""
    create, update, delete = [], [], []
    for task in wanted:
        same = sorted(
            (t for t in existing if t.get("name") == task["name"] and t.get("orgID") == org_id),
            key=lambda t: t.get("createdAt", ""),
        )
        status = task.get("status", "active")
        description = task.get("description", "")
        if not same:
            create.append(
                {
                    "name": task["name"],
                    "body": {
                        "orgID": org_id,
                        "flux": task["flux"],
                        "status": status,
                        "description": description,
                    },
                }
            )
            continue
        current = same[0]
        delete += [{"name": task["name"], "id": t["id"]} for t in same[1:]]
        body: dict[str, Any] = {}
        if current.get("flux") != task["flux"]:
            body["flux"] = task["flux"]
        if current.get("status") != status:
            body["status"] = status
        if current.get("description", "") != description:
            body["description"] = description
        if body:
            update.append({"name": task["name"], "id": current["id"], "body": body})
    return {"to_create": create, "to_update": update, "to_delete": delete}


# Stands for the ID of a bucket or user not created yet (a --check run): it makes
# the plan replace the token, and InfluxDB would refuse it as an ID, so it can
# never widen a permission to the whole org the way an empty ID would.
MISSING_ID = "not-created-yet"


def token_permissions(
    token: dict[str, Any], bucket_id_by_name: dict[str, str], org_id: str
) -> list[dict[str, Any]]:
    """The InfluxDB permissions of a token spec: read/write on named buckets, or read
    on every bucket of the org ("*"). A spec with `owner_id` (the watchlist-api
    token, owned by the user bbdash-custom) also gets read and write on the org's
    authorizations and on that one user: InfluxDB's authorizer lets a token create an
    authorization only with permissions it holds itself (authorizer/auth.go,
    VerifyPermissions) and only for a user it may write, and updating or deleting an
    authorization needs read/write on its user too. So the token can create, disable
    and delete tokens of its own user only, on its own buckets only: never the
    feeders' tokens (owned by the operator) nor any other bucket."""
    permissions = []
    for action in ("read", "write"):
        for name in token.get(action) or []:
            resource: dict[str, Any] = {"type": "buckets", "orgID": org_id}
            if name != "*":
                resource["id"] = bucket_id_by_name.get(name) or MISSING_ID
            permissions.append({"action": action, "resource": resource})
    if token.get("owner_id"):
        for action in ("read", "write"):
            permissions.append(
                {"action": action, "resource": {"type": "authorizations", "orgID": org_id}}
            )
            permissions.append(
                {"action": action, "resource": {"type": "users", "id": token["owner_id"]}}
            )
    return permissions


def _permission_key(permission: dict[str, Any]) -> tuple[str, str, str, str]:
    resource = permission.get("resource") or {}
    return (
        str(permission.get("action", "")),
        str(resource.get("type", "")),
        str(resource.get("id") or ""),
        str(resource.get("orgID") or ""),
    )


def _slurped(result: dict[str, Any]) -> str:
    if not result or result.get("failed") or result.get("skipped") or "content" not in result:
        return ""
    return base64.b64decode(result["content"]).decode("utf-8", "replace").strip()


def _probe_ok(token: dict[str, Any], probe: dict[str, Any] | None) -> bool:
    """The write probe (an empty write) answers 204 to a token that may write, and
    nothing is written: InfluxDB v2.9.1's http/write_handler.go checks the token, the
    org, the bucket and the write permission, then writes the zero points it parsed.
    Any other answer (401, 403, 404; v2.0.0's 400 "writing requires points") proves
    nothing and replaces the token. The read probe lists the bucket for a token that
    may read."""
    if not probe or probe.get("skipped") or "status" not in probe:
        return False
    body = probe.get("json") or {}
    if token.get("owner_id"):
        # The token manager lists its own user's authorizations (GET
        # /api/v2/authorizations?userID=): 200 with at least itself, which it may
        # read (read on the org's authorizations and on its user).
        return probe["status"] == 200 and len(body.get("authorizations") or []) > 0
    if token.get("write"):
        return probe["status"] == 204
    return probe["status"] == 200 and len(body.get("buckets") or []) > 0


def token_plan(
    tokens: list[dict[str, Any]],
    token_files: list[dict[str, Any]],
    id_files: list[dict[str, Any]],
    probes: list[dict[str, Any]],
    authorizations: list[dict[str, Any]],
    bucket_id_by_name: dict[str, str],
    org_id: str,
    prefix: str,
) -> list[dict[str, Any]]:
    """For each token: keep it (its file holds a token InfluxDB accepts for its purpose,
    and the recorded authorization exists, active, with exactly the expected
    permissions) or create a new one; and the stale authorizations to delete (ours by
    description, not the one kept). Tokens are never listed by InfluxDB 2.9 (hashed),
    so validity is proven by using the token, not by comparing it."""
    by_name = {r.get("item", {}).get("name"): r for r in token_files}
    ids_by_name = {r.get("item", {}).get("name"): r for r in id_files}
    # The probes loop over the token files' results: their item is a file result.
    probes_by_name = {r.get("item", {}).get("item", {}).get("name"): r for r in probes}
    auths = {a["id"]: a for a in authorizations}
    plan = []
    for token in tokens:
        name = token["name"]
        description = f"{prefix}{name}"
        permissions = token_permissions(token, bucket_id_by_name, org_id)
        file_token = _slurped(by_name.get(name, {}))
        auth_id = _slurped(ids_by_name.get(name, {}))
        auth = auths.get(auth_id)
        keep = bool(
            file_token
            and auth is not None
            and auth.get("status") == "active"
            and (not token.get("owner_id") or auth.get("userID") == token["owner_id"])
            and auth.get("description") == description
            and sorted(map(_permission_key, auth.get("permissions") or []))
            == sorted(map(_permission_key, permissions))
            and _probe_ok(token, probes_by_name.get(name))
        )
        stale = [
            a["id"]
            for a in authorizations
            if a.get("description") == description and not (keep and a["id"] == auth_id)
        ]
        plan.append(
            {
                "name": name,
                "action": "keep" if keep else "create",
                "description": description,
                "permissions": permissions,
                "stale_ids": stale,
                # The creating body's userID: the owner, else the operator (omitted).
                "body_extra": {"userID": token["owner_id"]} if token.get("owner_id") else {},
            }
        )
    return plan


def orphan_authorizations(
    authorizations: list[dict[str, Any]], tokens: list[dict[str, Any]], prefix: str
) -> list[str]:
    """IDs of authorizations this role created for tokens no longer configured."""
    wanted = {f"{prefix}{t['name']}" for t in tokens}
    return [
        a["id"]
        for a in authorizations
        if str(a.get("description", "")).startswith(prefix) and a.get("description") not in wanted
    ]


def influxd_env(config: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, str]:
    """influxd options ({"query-concurrency": 4, "reporting-disabled": true}) as the
    environment variables the image reads (INFLUXD_QUERY_CONCURRENCY=4,
    INFLUXD_REPORTING_DISABLED=true)."""
    merged = {**config, **(extra or {})}
    env = {}
    for key, value in merged.items():
        if not re.match(r"^[a-z][a-z0-9-]*$", str(key)):
            raise AnsibleFilterError(f"influxdb_config: {key!r} is not an influxd option name")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        env["INFLUXD_" + str(key).upper().replace("-", "_")] = text
    return env


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "influxdb_duration_seconds": duration_seconds,
            "influxdb_env": influxd_env,
            "influxdb_default_shard_group_seconds": default_shard_group_seconds,
            "influxdb_bucket_problems": bucket_problems,
            "influxdb_task_problems": task_problems,
            "influxdb_task_flux": task_flux,
            "influxdb_token_problems": token_problems,
            "influxdb_bucket_plan": bucket_plan,
            "influxdb_custom_buckets": custom_buckets,
            "influxdb_custom_user_problems": custom_user_problems,
            "influxdb_bucket_ids": bucket_ids,
            "influxdb_task_plan": task_plan,
            "influxdb_token_permissions": token_permissions,
            "influxdb_token_plan": token_plan,
            "influxdb_orphan_authorizations": orphan_authorizations,
        }
