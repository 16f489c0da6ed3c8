"""Pinned image references and plugin versions, resolved over HTTP with Python's
standard library only: it runs on the target host inside the `pins_resolve`
module (Docker may not be installed yet), and on the controller for `make pins`.

Images go through the OCI distribution API (the Docker Registry HTTP API v2).
A reference is read with Docker's own defaults (distribution/reference,
normalize.go): `nginx:1.30` is `docker.io/library/nginx:1.30`, which
registry-1.docker.io serves. A registry that wants a token answers 401 with
`WWW-Authenticate: Bearer realm="...",service="...",scope="..."`
(distribution's docs/spec/auth/token.md); the token is fetched anonymously
from the realm and the request repeated with it. Then

    HEAD /v2/<name>/manifests/<tag or digest>
    Accept: OCI index, Docker manifest list, OCI and Docker manifests

200 means the pin can be pulled; 404 that the tag or the repository does not
exist; 401/403 after the token dance that anonymous pulls are refused (Docker
Hub answers so for a repository that does not exist); anything else, no
answer, a 5xx or a 429, that it could not be checked. Only HEAD: Docker Hub
counts GETs of manifests against the anonymous pull rate limit, not HEADs.

Grafana plugins: grafana.com's `/api/plugins/<id>/versions/<version>` must
answer 200 (or the plugin's own mirror URL, when the role sets one).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import random
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# Outcomes of a check. The first three stop a deployment: the pin cannot be pulled.
OK = "ok"
MISSING = "missing"
DENIED = "denied"
INVALID = "invalid"
UNKNOWN = "unknown"
BLOCKING = (MISSING, DENIED, INVALID)

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
GRAFANA_PLUGIN_API = "https://grafana.com/api/plugins"
# Every manifest kind a pull accepts: an index (multi-platform) first.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
USER_AGENT = "bbdash-pins/1 (python-urllib)"

# distribution/reference's grammar (reference/regexp.go).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_PLUGIN_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_NAME_MAX = 255


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class ImageRef:
    """An image reference with Docker's defaults applied."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def host(self) -> str:
        """Where the registry API answers (Docker Hub's API is not at docker.io)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What a pull asks for: the digest when there is one (Docker ignores the tag then)."""
        return self.digest or self.tag

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageRef:
    """`[registry/]name[:tag][@digest]`, read as Docker reads it.

    The first path component is a registry when it holds a "." or a ":", is
    "localhost", or has upper-case letters; otherwise the registry is docker.io,
    where a one-component name is an official image (library/<name>). No tag and
    no digest means "latest". Raises ValueError on anything Docker would refuse.
    """
    text = (text or "").strip()
    if not text:
        raise ValueError("empty image reference")
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{text!r}: invalid digest {digest!r}")
    tag = ""
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            raise ValueError(f"{text!r}: invalid tag {tag!r}")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        registry, path = first, rest
        if not _DOMAIN.match(registry):
            raise ValueError(f"{text!r}: invalid registry {registry!r}")
    else:
        registry, path = DOCKER_HUB, name
    if not _PATH.match(path):
        raise ValueError(f"{text!r}: invalid repository name {path!r} (lower case, digits, . _ -)")
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if len(f"{registry}/{path}") > _NAME_MAX:
        raise ValueError(f"{text!r}: name longer than {_NAME_MAX} characters")
    if not tag and not digest:
        tag = "latest"
    return ImageRef(registry, path, tag, digest)


# --------------------------------------------------------------------------- auth challenges


@dataclass(frozen=True)
class Challenge:
    """One challenge of a WWW-Authenticate header (RFC 7235): scheme and parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


_SCHEME = re.compile(r"[\s,]*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?=[\s,]|$)")
_PARAM = re.compile(
    r"""[\s,]*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))"""
)


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in a WWW-Authenticate value, parameters keyed in lower case.

    Quoted values keep their commas (a scope may read "repository:a/b:pull,push");
    several challenges may share one header ("Bearer realm=..., Basic realm=...").
    """
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        scheme = _SCHEME.match(header, pos)
        if not scheme:
            break
        pos = scheme.end()
        params: dict[str, str] = {}
        while True:
            param = _PARAM.match(header, pos)
            if not param:
                break
            quoted, bare = param.group(2), param.group(3)
            params[param.group(1).lower()] = (
                re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            )
            pos = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), params))
    return challenges


def bearer_challenge(header: str) -> Challenge | None:
    """The Bearer challenge with a realm, if the header offers one."""
    for challenge in parse_challenges(header):
        if challenge.scheme == "bearer" and challenge.params.get("realm"):
            return challenge
    return None


def token_url(challenge: Challenge, repository: str) -> str:
    """The anonymous token request for a Bearer challenge: realm?service=...&scope=...

    A challenge's scope may hold several, space-separated: each becomes its own
    scope parameter (token.md). A challenge without one (the one on /v2/) gets the
    pull scope of the repository.
    """
    realm = challenge.params["realm"]
    query: list[tuple[str, str]] = []
    if challenge.params.get("service"):
        query.append(("service", challenge.params["service"]))
    scopes = (challenge.params.get("scope") or "").split() or [f"repository:{repository}:pull"]
    query += [("scope", scope) for scope in scopes]
    return realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)


# --------------------------------------------------------------------------- HTTP


class NoAnswerError(Exception):
    """No HTTP answer at all: name not resolved, connection refused, TLS, timeout."""


class CheckError(Exception):
    """An HTTP answer that does not say whether the pin exists (token endpoint, bad JSON)."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _host_only(netloc: str) -> str:
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.split(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(netloc: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (with or without a port)."""
    host = _host_only(netloc)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def no_proxy_matches(netloc: str, no_proxy: str) -> bool:
    """Whether a no_proxy list ("*", names, .suffixes, addresses, CIDR ranges) covers a host."""
    host = _host_only(netloc).lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
            continue
        except ValueError:
            pass
        entry = _host_only(entry).lstrip(".")
        if host == entry or host.endswith(f".{entry}"):
            return True
    return False


def _describe(err: BaseException) -> str:
    reason = getattr(err, "reason", err)
    if isinstance(reason, socket.gaierror):
        return f"name not resolved ({reason.strerror or reason})"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "no answer in time"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error ({reason.reason or reason})"
    return str(reason) or type(reason).__name__


class Http:
    """GET/HEAD with a timeout, the given proxies and no proxy for loopback hosts.

    `proxies` maps "http"/"https" to a proxy URL; None means the environment's
    (http_proxy, https_proxy, no_proxy), as urllib reads them. Loopback hosts are
    never proxied (Go's, hence Docker's, rule).
    """

    def __init__(
        self,
        timeout: float = 10.0,
        proxies: dict[str, str] | None = None,
        no_proxy: str = "",
        user_agent: str = USER_AGENT,
    ) -> None:
        self.timeout = timeout
        self.proxies = proxies
        self.no_proxy = no_proxy
        self.user_agent = user_agent
        self._contexts: dict[bool, ssl.SSLContext] = {}

    def _tls(self, verify: bool) -> ssl.SSLContext:
        """One TLS context per kind for the run (loading the CA bundle takes a while)."""
        if verify not in self._contexts:
            context = ssl.create_default_context()
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._contexts[verify] = context
        return self._contexts[verify]

    def _proxy_handler(self, netloc: str) -> urllib.request.ProxyHandler:
        if is_loopback(netloc) or no_proxy_matches(netloc, self.no_proxy):
            return urllib.request.ProxyHandler({})
        if self.proxies is None:
            return urllib.request.ProxyHandler()
        return urllib.request.ProxyHandler(self.proxies)

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        verify: bool = True,
        max_body: int = 8 << 20,
    ) -> Response:
        """One request; any HTTP status is returned, no answer raises NoAnswerError."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CheckError(f"not an http(s) URL: {url!r}")
        opener = urllib.request.build_opener(
            self._proxy_handler(parts.netloc),
            urllib.request.HTTPSHandler(context=self._tls(verify)),
        )
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url, method=method, headers={"User-Agent": self.user_agent, **(headers or {})}
        )
        try:
            with opener.open(request, timeout=self.timeout) as answer:
                body = answer.read(max_body) if method != "HEAD" else b""
                return Response(answer.status, _headers(answer.headers), body)
        except urllib.error.HTTPError as err:
            body = err.read(max_body) if err.fp is not None and method != "HEAD" else b""
            return Response(err.code, _headers(err.headers), body)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            raise NoAnswerError(_describe(err)) from err


def _headers(message: http.client.HTTPMessage | None) -> dict[str, str]:
    """Header names in lower case; repeated headers joined with ", " (as RFC 9110 allows)."""
    if message is None:
        return {}
    found: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        found[key] = f"{found[key]}, {value}" if key in found else value
    return found


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Result:
    status: str
    detail: str
    digest: str = ""


def _next_link(header: str) -> str:
    """The rel="next" target of a Link header (tags/list pagination), or ""."""
    for part in header.split(","):
        match = re.match(r'\s*<([^>]*)>\s*;.*\brel="?next"?', part)
        if match:
            return match.group(1)
    return ""


class Resolver:
    """Checks pins against registries and the plugin API, with a small retry policy.

    A host that gave no answer at all is not asked again in the same run: every
    further pin there is "could not check" at once, instead of one timeout each.
    """

    def __init__(
        self,
        http_client: Http | None = None,
        insecure_registries: Iterable[str] = (),
        retries: int = 1,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http_client or Http()
        self.insecure = {r.strip().lower() for r in insecure_registries if r.strip()}
        self.retries = max(0, retries)
        self.backoff = backoff
        self.sleep = sleep
        self._schemes: dict[str, str] = {}
        self._tokens: dict[tuple[str, str], str] = {}
        self._silent: dict[str, str] = {}

    # -- plumbing

    def is_insecure(self, host: str) -> bool:
        """Plain HTTP allowed and certificates not verified: Docker's insecure registries,
        of which loopback registries always are one."""
        return is_loopback(host) or host.lower() in self.insecure

    def _send(self, method: str, host: str, path: str, headers: dict[str, str]) -> Response:
        """HTTPS, and for an insecure registry plain HTTP when HTTPS gets no answer."""
        if host in self._schemes:
            schemes = [self._schemes[host]]
        else:
            schemes = ["https", "http"] if self.is_insecure(host) else ["https"]
        failure = NoAnswerError("no scheme tried")
        for scheme in schemes:
            try:
                answer = self.http.request(
                    method, f"{scheme}://{host}{path}", headers, verify=not self.is_insecure(host)
                )
            except NoAnswerError as err:
                failure = err
                continue
            self._schemes[host] = scheme
            return answer
        raise failure

    def _token(self, challenge: Challenge, repository: str) -> str | None:
        """An anonymous token for the challenge; None when the endpoint refuses one."""
        url = token_url(challenge, repository)
        netloc = urllib.parse.urlsplit(url).netloc
        try:
            answer = self.http.request(
                "GET", url, {"Accept": "application/json"}, verify=not self.is_insecure(netloc)
            )
        except NoAnswerError as err:  # the registry answered: only its token endpoint did not
            raise CheckError(f"token endpoint {netloc} did not answer: {err}") from err
        if answer.status in (401, 403):
            return None
        if answer.status != 200:
            raise CheckError(f"token endpoint {netloc} answered HTTP {answer.status}")
        try:
            data = json.loads(answer.body)
        except ValueError as err:
            raise CheckError(f"token endpoint {netloc} answered no JSON") from err
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else ""
        if not token:
            raise CheckError(f"token endpoint {netloc} answered without a token")
        return str(token)

    def registry_request(
        self, method: str, ref: ImageRef, path: str, headers: dict[str, str]
    ) -> Response:
        """A registry request, with the anonymous Bearer token dance when it answers 401."""
        key = (ref.host, ref.repository)
        sent = dict(headers)
        if key in self._tokens:
            sent["Authorization"] = f"Bearer {self._tokens[key]}"
        answer = self._send(method, ref.host, path, sent)
        if answer.status != 401:
            return answer
        challenge = bearer_challenge(answer.headers.get("www-authenticate", ""))
        if challenge is None:  # Basic, or nothing: anonymous pulls are refused
            return answer
        token = self._token(challenge, ref.repository)
        if token is None:
            return answer
        self._tokens[key] = token
        sent["Authorization"] = f"Bearer {token}"
        return self._send(method, ref.host, path, sent)

    def _retrying(self, host: str, attempt: Callable[[], Result]) -> Result:
        """Run a check; repeat it after no answer or a 5xx, with backoff and jitter."""
        if host in self._silent:
            return Result(UNKNOWN, f"{host} did not answer: {self._silent[host]}")
        result = Result(UNKNOWN, "not checked")
        for number in range(self.retries + 1):
            silent = False
            try:
                result = attempt()
            except NoAnswerError as err:
                result, silent = Result(UNKNOWN, f"{host} did not answer: {err}"), True
            except CheckError as err:
                result = Result(UNKNOWN, str(err))
            retry = silent or result.detail.startswith("HTTP 5")
            if result.status != UNKNOWN or not retry or number == self.retries:
                break
            jitter = random.uniform(0, self.backoff)  # noqa: S311 - spreading retries, not a secret
            self.sleep(self.backoff * 2**number + jitter)
        if silent:
            self._silent[host] = result.detail.split(": ", 1)[-1]
        return result

    # -- what the module and the report ask

    def check_image(self, reference: str | ImageRef) -> Result:
        """Can this reference be pulled? One HEAD of its manifest (after the token dance)."""
        try:
            ref = reference if isinstance(reference, ImageRef) else parse_reference(reference)
        except ValueError as err:
            return Result(INVALID, str(err))
        path = f"/v2/{ref.repository}/manifests/{ref.reference}"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}

        def attempt() -> Result:
            answer = self.registry_request("HEAD", ref, path, headers)
            return _manifest_result(ref, answer)

        return self._retrying(ref.host, attempt)

    def check_plugin(
        self, plugin_id: str, version: str, url: str = "", api: str = GRAFANA_PLUGIN_API
    ) -> Result:
        """Is this plugin version published? grafana.com's version URL (or the mirror's)."""
        if not _PLUGIN_ID.match(plugin_id or "") or not version:
            return Result(
                INVALID, f"plugin {plugin_id!r} {version!r}: an id and a version are needed"
            )
        if url:
            return self.check_url(url, method="HEAD")
        quoted = urllib.parse.quote(plugin_id, safe="")
        return self.check_url(f"{api.rstrip('/')}/{quoted}/versions/{urllib.parse.quote(version)}")

    def check_url(self, url: str, method: str = "GET") -> Result:
        """200 ok, 404 missing, 401/403 denied; a HEAD refused (405/501) is retried as a GET
        of the first byte."""
        netloc = urllib.parse.urlsplit(url).netloc

        def attempt() -> Result:
            verify = not self.is_insecure(netloc)
            answer = self.http.request(method, url, verify=verify, max_body=1 << 20)
            if method == "HEAD" and answer.status in (405, 501):
                answer = self.http.request(
                    "GET", url, {"Range": "bytes=0-0"}, verify=verify, max_body=1
                )
            return _http_result(url, answer)

        return self._retrying(netloc, attempt)

    def list_tags(self, reference: str | ImageRef, pages: int = 50) -> list[str]:
        """Every tag of the repository (tags/list, following rel="next" links).

        Raises NoAnswerError or CheckError when the registry does not list them.
        """
        ref = reference if isinstance(reference, ImageRef) else parse_reference(reference)
        path = f"/v2/{ref.repository}/tags/list?n=1000"
        tags: list[str] = []
        for _ in range(pages):
            answer = self.registry_request("GET", ref, path, {"Accept": "application/json"})
            if answer.status != 200:
                raise CheckError(f"HTTP {answer.status} listing the tags of {ref.repository}")
            try:
                data = json.loads(answer.body)
            except ValueError as err:
                raise CheckError(f"tags of {ref.repository}: not JSON") from err
            tags += [str(t) for t in (data.get("tags") or [])]
            link = _next_link(answer.headers.get("link", ""))
            if not link:
                break
            parts = urllib.parse.urlsplit(link)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        return tags

    def plugin_versions(self, plugin_id: str, api: str = GRAFANA_PLUGIN_API) -> list[str]:
        """Every published version of a plugin (grafana.com's /api/plugins/<id>/versions)."""
        url = f"{api.rstrip('/')}/{urllib.parse.quote(plugin_id, safe='')}/versions"
        netloc = urllib.parse.urlsplit(url).netloc
        answer = self.http.request(
            "GET", url, {"Accept": "application/json"}, verify=not self.is_insecure(netloc)
        )
        if answer.status != 200:
            raise CheckError(f"HTTP {answer.status} listing the versions of {plugin_id}")
        try:
            items = json.loads(answer.body).get("items") or []
        except (ValueError, AttributeError) as err:
            raise CheckError(f"versions of {plugin_id}: not the expected JSON") from err
        return [str(i["version"]) for i in items if isinstance(i, dict) and i.get("version")]

    @property
    def unreachable(self) -> dict[str, str]:
        """The hosts that gave no answer in this run, and why."""
        return dict(self._silent)

    def probe(self, host: str) -> str:
        """Why the registry API on host gives no answer; empty when it answers (any status)."""
        try:
            self._send("GET", host, "/v2/", {})
        except NoAnswerError as err:
            self._silent[host] = str(err)
            return str(err)
        return ""


def _manifest_result(ref: ImageRef, answer: Response) -> Result:
    digest = answer.headers.get("docker-content-digest", "")
    where = f"{ref.registry}/{ref.repository}"
    if answer.status == 200:
        kind = answer.headers.get("content-type", "").split(";")[0]
        return Result(OK, f"{where}:{ref.reference} found ({kind or 'manifest'})", digest)
    if answer.status == 404:
        return Result(
            MISSING, f"{where} has no {ref.reference!r} (HTTP 404: no such tag or repository)"
        )
    if answer.status in (401, 403):
        return Result(
            DENIED,
            f"{where}: anonymous pull refused (HTTP {answer.status}): the repository "
            "does not exist, or it needs a login",
        )
    if answer.status == 429:
        return Result(UNKNOWN, f"{ref.host} is rate limiting (HTTP 429)")
    return Result(UNKNOWN, f"HTTP {answer.status} from {ref.host}")


def _http_result(url: str, answer: Response) -> Result:
    if answer.status in (200, 206):
        return Result(OK, f"{url} answers")
    if answer.status == 404:
        return Result(MISSING, f"{url}: HTTP 404 (no such version)")
    if answer.status in (401, 403):
        return Result(DENIED, f"{url}: HTTP {answer.status}")
    if answer.status == 429:
        return Result(UNKNOWN, f"{url}: rate limited (HTTP 429)")
    return Result(UNKNOWN, f"HTTP {answer.status} from {url}")


# --------------------------------------------------------------------------- versions


_VERSION_TAG = re.compile(r"^(v?)(\d+(?:\.\d+)*)(.*)$")


def version_key(tag: str) -> tuple[str, tuple[int, ...], str] | None:
    """A tag's shape: ("v", (3, 5, 5), "") for v3.5.5, ("", (16, 10), "-bookworm") for
    16.10-bookworm; None for tags that are not versions (latest, alpine)."""
    match = _VERSION_TAG.match(tag)
    if not match:
        return None
    return match.group(1), tuple(int(n) for n in match.group(2).split(".")), match.group(3)


def newer_versions(pinned: str, candidates: Iterable[str]) -> dict[str, str]:
    """The newest candidate of the pin's shape (same "v" prefix, as many numbers, same
    suffix: v3.5.5 is compared with v3.x.y only, not with v3.6.0-rc.0 or 3.7), per scope:
    "patch" (same major.minor), "major" (same major), "any". Empty when nothing is newer."""
    key = version_key(pinned)
    if key is None:
        return {}
    prefix, numbers, suffix = key
    same_shape = []
    for tag in candidates:
        other = version_key(tag)
        if other and other[0] == prefix and other[2] == suffix and len(other[1]) == len(numbers):
            same_shape.append((other[1], tag))
    newer: dict[str, str] = {}
    scopes = {"any": 0, "major": 1, "patch": 2}
    for scope, fixed in scopes.items():
        if fixed >= len(numbers):
            continue
        best = max(
            (c for c in same_shape if c[0][:fixed] == numbers[:fixed] and c[0] > numbers),
            default=None,
        )
        if best:
            newer[scope] = best[1]
    return newer
