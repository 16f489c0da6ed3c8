#!/usr/bin/env python3
"""Build the provisioned dashboards (../files/dashboards/*.json) from code.

It also writes the panel catalogue of "My desk" layouts (dashboards/boards/desk.py)
into the watchlist API's package, and the sentiment alert rule's scorer version into ../vars/main.yml
(between its "sentiment scorer" markers), read like the panels' from the
shipped weights file, so a retrained model moves the alert with the panels.

The JSON files are what the role copies and what Grafana loads; this script is
how they are written, so that eight dashboards share one style, one set of
Flux snippets and one set of datasource uids. The panels and queries live in
the ``dashboards`` package beside this script (one module per dashboard in
``dashboards/boards``); edit there, then run:

    python3 roles/grafana/tools/build_dashboards.py          # rewrite the JSON
    python3 roles/grafana/tools/build_dashboards.py --check  # exit 1 if stale

tests/static/test_grafana_dashboards.py runs the --check comparison, so a hand
edit of the JSON (or an edit of the code without a rebuild) fails the tests.
Output is deterministic: sorted keys are not used (Grafana's own order reads
better), but nothing depends on time or randomness.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboards import sentiment
from dashboards.boards import (
    asset_detail,
    crypto,
    custom,
    desk,
    infrastructure,
    market_overview,
    news,
    pipeline,
    stocks_forex,
)

OUT = Path(__file__).resolve().parent.parent / "files" / "dashboards"
# The panels of "My desk" layouts: read by the watchlist API, shipped in its package.
DESK_CATALOG = (
    Path(__file__).resolve().parents[3]
    / "files/feeders/src/bbdash/watchlist_api/layout_dashboards/catalog.json"
)

BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "market-overview.json": market_overview.build,
    "asset-detail.json": asset_detail.build,
    "crypto.json": crypto.build,
    "stocks-and-forex.json": stocks_forex.build,
    "news-and-sentiment.json": news.build,
    "infrastructure.json": infrastructure.build,
    "pipeline-health.json": pipeline.build,
    "custom-series.json": custom.build,
}


def render() -> dict[str, str]:
    """Each dashboard file's name and its JSON text, as written to OUT."""
    return {
        name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in BUILDERS.items()
    }


ROLE_VARS = Path(__file__).resolve().parent.parent / "vars" / "main.yml"
# The BEGIN line and the comment lines after it are kept; the lines up to END are written.
_VARS_BLOCK = re.compile(
    r"(# BEGIN sentiment scorer.*\n(?:#.*\n)*)((?:[^#].*\n)*)(# END sentiment scorer\n)"
)


def role_vars_text() -> str:
    """vars/main.yml with the alert rule's scorer version taken from the weights file."""
    text = ROLE_VARS.read_text(encoding="utf-8")
    match = _VARS_BLOCK.search(text)
    if match is None:
        msg = f"{ROLE_VARS}: no '# BEGIN sentiment scorer' ... '# END sentiment scorer' block"
        raise SystemExit(msg)
    body = f"_grafana_sentiment_scorer: {sentiment.version()}\n"
    return text[: match.start(2)] + body + text[match.end(2) :]


def main() -> int:
    """Write the JSON files, or with --check only compare them; 1 when any is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a JSON file differs from the build"
    )
    args = parser.parse_args()
    stale = []
    outputs = {OUT / name: text for name, text in render().items()}
    outputs[ROLE_VARS] = role_vars_text()
    outputs[DESK_CATALOG] = json.dumps(desk.build(), indent=2, ensure_ascii=False) + "\n"
    for path, text in outputs.items():
        name = str(path.relative_to(OUT.parents[3]))
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale dashboards (run build_dashboards.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
