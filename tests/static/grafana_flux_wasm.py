"""Check Flux with the real Flux parser and type checker, compiled to WebAssembly.

InfluxDB cannot run here, but the Flux language server ships Flux's own parser
and semantic analysis (types, builtin signatures, unknown identifiers) as
WebAssembly in the npm package @influxdata/flux-lsp-browser. Node runs it.

The package is not vendored: install it once into the git-ignored .cache/
(`npm install --prefix .cache/flux-lsp @influxdata/flux-lsp-browser@0.8.40`),
or point GRAFANA_FLUX_LSP_DIR at a folder holding it. Without it (or without
node) the tests that use this module are skipped, and say why.

Before checking, a query is prepared the way Grafana sends it: the macros
v.timeRangeStart / v.timeRangeStop / v.windowPeriod / v.defaultBucket /
v.organization are replaced by literals (Grafana's InfluxDB backend does that
textually), and dashboard variables by sample values in their format.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from grafana_helpers import REPO

FLUX_LSP_VERSION = "0.8.40"
PACKAGE = "@influxdata/flux-lsp-browser"

# Sample values per variable, per Grafana format.
SAMPLES = {
    "symbol": ["BTC/USDT", "AAPL"],
    "pair": ["EURUSD=X"],
    "exchange": ["binance", "coingecko"],
    "category": ["crypto", "general"],
    "asset_type": ["crypto", "stock"],
}

# The wasm-bindgen "bundler" build imports its .wasm as an ES module, which
# node cannot link (circular import). This runner loads the glue module with
# the wasm import removed and instantiates the module itself.
RUNNER = r"""
import { readFileSync } from 'node:fs';
const dir = process.argv[2];
const bg = await import(dir + '/glue.mjs');
const bytes = readFileSync(dir + '/flux.wasm');
const { instance } = await WebAssembly.instantiate(bytes, { './flux-lsp-browser_bg.js': bg });
bg.__setWasm(instance.exports);
const queries = JSON.parse(readFileSync(0, 'utf8'));
function parseErrors(node, out) {
  if (Array.isArray(node)) { node.forEach((n) => parseErrors(n, out)); return out; }
  if (node && typeof node === 'object') {
    if (Array.isArray(node.errors)) node.errors.forEach((e) => out.push(e.msg || JSON.stringify(e)));
    Object.values(node).forEach((v) => parseErrors(v, out));
  }
  return out;
}
const results = queries.map((q) => {
  let valid = false;
  try { valid = new bg.Flux(q).is_valid(); } catch (e) { valid = false; }
  const errors = valid ? [] : parseErrors(bg.parse(q), []);
  return { valid, errors };
});
process.stdout.write(JSON.stringify(results));
"""


def package_dir() -> Path | None:
    candidates = []
    if os.environ.get("GRAFANA_FLUX_LSP_DIR"):
        candidates.append(Path(os.environ["GRAFANA_FLUX_LSP_DIR"]))
    candidates.append(REPO / ".cache" / "flux-lsp")
    for base in candidates:
        pkg = base / "node_modules" / PACKAGE
        if (pkg / "flux-lsp-browser_bg.wasm").exists():
            return pkg
    return None


def unavailable_reason() -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    if package_dir() is None:
        return (
            f"{PACKAGE} is not installed: npm install --prefix .cache/flux-lsp "
            f"{PACKAGE}@{FLUX_LSP_VERSION}"
        )
    return None


def grafana_interpolate(flux: str) -> str:
    """What Grafana sends to InfluxDB for this query text (sample range and variables)."""
    text = flux
    text = text.replace("v.timeRangeStart", "2026-01-01T00:00:00Z")
    text = text.replace("v.timeRangeStop", "2026-01-02T00:00:00Z")
    text = text.replace("v.windowPeriod", "1m0s")
    text = text.replace("v.defaultBucket", '"markets"')
    text = text.replace("v.organization", '"bloomberg"')

    def replace(match: re.Match[str]) -> str:
        name, fmt = match[1], match[2]
        values = SAMPLES.get(name, ["sample"])
        if fmt == "json":
            return json.dumps(values)
        if fmt in (None, "raw", "text"):
            return values[0]
        if fmt == "regex":  # Grafana's regex format: escaped values, (a|b) for several
            escaped = [re.escape(v) for v in values]
            return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        raise ValueError(f"format {fmt!r} not modelled for ${{{name}}}")

    # The logged-in user's login (Grafana's global variable ${__user.login}).
    text = text.replace("${__user.login}", "trader")
    return re.sub(r"\$\{(\w+)(?::(\w+))?\}", replace, text)


def check(queries: list[str]) -> list[dict[str, object]]:
    """[{valid, errors}] for each query, as judged by Flux itself."""
    pkg = package_dir()
    assert pkg is not None, unavailable_reason()
    with tempfile.TemporaryDirectory(prefix="flux-wasm-") as tmp:
        work = Path(tmp)
        glue = (pkg / "flux-lsp-browser_bg.js").read_text(encoding="utf-8")
        # Top-level statements that read the wasm memory run after instantiation.
        init = re.findall(
            r"^cached\w+Memory0 = new \w+Array\(wasm\.memory\.buffer\);$", glue, re.MULTILINE
        )
        glue = re.sub(
            r"^cached\w+Memory0 = new \w+Array\(wasm\.memory\.buffer\);$",
            "",
            glue,
            flags=re.MULTILINE,
        )
        glue = glue.replace(
            "import * as wasm from './flux-lsp-browser_bg.wasm';",
            "let wasm;\nexport function __setWasm(w) { wasm = w; " + " ".join(init) + " }",
        )
        (work / "glue.mjs").write_text(glue, encoding="utf-8")
        shutil.copy(pkg / "flux-lsp-browser_bg.wasm", work / "flux.wasm")
        (work / "run.mjs").write_text(RUNNER, encoding="utf-8")
        proc = subprocess.run(
            ["node", str(work / "run.mjs"), str(work)],
            input=json.dumps(queries),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        return json.loads(proc.stdout)
