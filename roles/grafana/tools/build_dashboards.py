#!/usr/bin/env python3
"""Build the provisioned dashboards (../files/dashboards/*.json) from code.

The JSON files are what the role copies and what Grafana loads; this script is
how they are written, so that seven dashboards share one style, one set of
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
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboards.boards import (
    asset_detail,
    crypto,
    infrastructure,
    market_overview,
    news,
    pipeline,
    stocks_forex,
)

OUT = Path(__file__).resolve().parent.parent / "files" / "dashboards"

BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "market-overview.json": market_overview.build,
    "asset-detail.json": asset_detail.build,
    "crypto.json": crypto.build,
    "stocks-and-forex.json": stocks_forex.build,
    "news-and-sentiment.json": news.build,
    "infrastructure.json": infrastructure.build,
    "pipeline-health.json": pipeline.build,
}


def render() -> dict[str, str]:
    """Each dashboard file's name and its JSON text, as written to OUT."""
    return {
        name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in BUILDERS.items()
    }


def main() -> int:
    """Write the JSON files, or with --check only compare them; 1 when any is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a JSON file differs from the build"
    )
    args = parser.parse_args()
    stale = []
    for name, text in render().items():
        path = OUT / name
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
