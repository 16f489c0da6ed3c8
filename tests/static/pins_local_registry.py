"""A real container registry on 127.0.0.1, for the pins tests.

The registry is Debian's `docker-registry` package: the distribution registry
itself (`docker-registry serve config.yml`), version 2.8. It runs with token
authentication, as Docker Hub and ghcr.io do, so that a client must follow the
`WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge. The token
server is a TEST DOUBLE of an auth server such as auth.docker.io: it hands out
signed JWTs (RS256, certificate in the `x5c` header, the registry trusting that
certificate through `rootcertbundle`) to anyone, granting pull and push on every
repository except those under `private/` (granted nothing, like a repository
that does not exist on Docker Hub).

Images are pushed through the registry API (blob uploads, then the manifest),
built here from a few bytes: one layer, a config, a Docker v2 manifest, or an
OCI manifest under an OCI index. Nothing leaves 127.0.0.1; no Docker engine is
needed.

A second double answers like grafana.com's plugin API
(`/api/plugins/<id>/versions/<version>`), for the plugin checks.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
SERVICE = "bbdash-test-registry"
ISSUER = "bbdash-test-token-issuer"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def registry_binary() -> tuple[str | None, str]:
    """The docker-registry program, installed from Debian's archive when missing
    (tests/deps.sh lists it too). (path, "") or (None, why it is not there)."""
    found = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )
    if found:
        return found, ""
    if os.geteuid() != 0:
        return None, "docker-registry is not installed and the tests do not run as root"
    if not shutil.which("apt-get"):
        return None, "docker-registry is not installed and there is no apt-get"
    proc = subprocess.run(
        ["bash", "-c", ". tests/images/lib.sh && apt_install docker-registry"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    found = shutil.which("docker-registry")
    if found:
        return found, ""
    return None, f"apt-get install docker-registry failed: {(proc.stderr or proc.stdout)[-500:]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- servers


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


@dataclass
class TokenIssuer:
    """TEST DOUBLE of a registry's token server (the role auth.docker.io plays)."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    requests: list[dict[str, list[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - py3.10 hosts
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def token(self, scopes: list[str]) -> str:
        """A JWT granting what the scopes ask, except on private/ repositories."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [] if name.startswith("private/") else actions.split(",")
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": ISSUER,
            "sub": "",
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 60,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve GET /token?service=...&scope=...; yields the realm URL."""
        issuer = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                issuer.requests.append(query)
                if url.path != "/token" or query.get("service") != [SERVICE]:
                    self._json(400, {"details": "unknown service"})
                    return
                token = issuer.token(query.get("scope", []))
                self._json(200, {"token": token, "access_token": token, "expires_in": 300})

        with _serve(Handler) as server:
            yield f"http://127.0.0.1:{server.server_address[1]}/token"


@contextmanager
def plugin_api(published: dict[str, list[str]]) -> Iterator[str]:
    """TEST DOUBLE of grafana.com's plugin API; yields its base URL (…/api/plugins).

    /api/plugins/<id>/versions/<version> answers 200 for a published version, else
    404; /api/plugins/<id>/versions lists them ({"items": [{"version": ...}]}).
    """

    class Handler(_Quiet):
        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
            if parts[:2] != ["api", "plugins"] or len(parts) < 4 or parts[3] != "versions":
                self._json(404, {"message": "Not found"})
                return
            versions = published.get(parts[2])
            if versions is None:
                self._json(404, {"message": "Plugin not found"})
            elif len(parts) == 4:
                self._json(200, {"items": [{"version": v} for v in versions]})
            elif len(parts) == 5 and parts[4] in versions:
                self._json(200, {"pluginSlug": parts[2], "version": parts[4]})
            else:
                self._json(404, {"message": "Version not found"})

        def do_HEAD(self) -> None:
            self.do_GET()

    with _serve(Handler) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/plugins"


# --------------------------------------------------------------------------- registry


@dataclass
class LocalRegistry:
    """A running docker-registry on 127.0.0.1:<port> with token auth."""

    port: int
    issuer: TokenIssuer
    realm: str

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _request(
        self,
        method: str,
        url: str,
        scope: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str]]:
        if not url.startswith("http"):
            url = f"http://{self.host}{url}"
        token = self.issuer.token([scope])
        request = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as answer:
                return answer.status, dict(answer.headers.items())
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {url}: HTTP {err.code} {err.read()[:500]!r}") from err

    def push_blob(self, repository: str, data: bytes) -> str:
        scope = f"repository:{repository}:pull,push"
        _, headers = self._request("POST", f"/v2/{repository}/blobs/uploads/", scope, b"")
        location = headers["Location"]
        digest = _sha256(data)
        separator = "&" if "?" in location else "?"
        self._request(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            scope,
            data,
            {"Content-Type": "application/octet-stream"},
        )
        return digest

    def push_manifest(self, repository: str, reference: str, media_type: str, body: bytes) -> str:
        self._request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            f"repository:{repository}:pull,push",
            body,
            {"Content-Type": media_type},
        )
        return _sha256(body)

    def push_image(self, repository: str, tag: str, *, oci_index: bool = False) -> str:
        """A one-layer image (a text file naming it) under repository:tag; its digest.

        oci_index: OCI manifest under an OCI image index (a multi-platform image's
        shape, as most upstream images are published); else a Docker v2 manifest.
        """
        content = f"{repository}:{tag}\n".encode()
        tar_bytes = io.BytesIO()
        with tarfile.open(fileobj=tar_bytes, mode="w") as archive:
            info = tarfile.TarInfo("pinned.txt")
            info.size = len(content)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(content))
        layer = gzip.compress(tar_bytes.getvalue(), mtime=0)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [_sha256(tar_bytes.getvalue())]},
            }
        ).encode()
        layer_digest = self.push_blob(repository, layer)
        config_digest = self.push_blob(repository, config)
        kinds = (
            (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
            if oci_index
            else (
                DOCKER_MANIFEST,
                DOCKER_CONFIG,
                DOCKER_LAYER,
            )
        )
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": kinds[0],
                "config": {"mediaType": kinds[1], "size": len(config), "digest": config_digest},
                "layers": [{"mediaType": kinds[2], "size": len(layer), "digest": layer_digest}],
            }
        ).encode()
        if not oci_index:
            return self.push_manifest(repository, tag, kinds[0], manifest)
        manifest_digest = self.push_manifest(repository, _sha256(manifest), kinds[0], manifest)
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "size": len(manifest),
                        "digest": manifest_digest,
                        "platform": {"architecture": "amd64", "os": "linux"},
                    }
                ],
            }
        ).encode()
        return self.push_manifest(repository, tag, OCI_INDEX, index)


@contextmanager
def local_registry(binary: str, work: Path) -> Iterator[LocalRegistry]:
    """docker-registry on a free loopback port, storage and config in `work`."""
    issuer = TokenIssuer()
    work.mkdir(parents=True, exist_ok=True)
    (work / "issuer.crt").write_bytes(issuer.cert_pem())
    with issuer.serve() as realm:
        port = free_port()
        config = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text"},
            "storage": {"filesystem": {"rootdirectory": str(work / "data")}},
            "http": {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex},
            "auth": {
                "token": {
                    "realm": realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(work / "issuer.crt"),
                }
            },
        }
        (work / "config.yml").write_text(json.dumps(config), encoding="utf-8")
        log = (work / "registry.log").open("wb")
        process = subprocess.Popen(
            [binary, "serve", str(work / "config.yml")], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_for(port, process, work / "registry.log")
            yield LocalRegistry(port, issuer, realm)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            log.close()


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"docker-registry did not listen on {port}: {log.read_text()[-2000:]}")
