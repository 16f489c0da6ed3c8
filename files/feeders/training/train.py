"""Retrain bbdash.sentiment's linear model and write its shipped weights file.

Run from the repository root (a clean checkout has everything it reads):

    .venv/bin/python files/feeders/training/train.py          # rewrite the weights
    .venv/bin/python files/feeders/training/train.py --check  # compare, exit 1 if different

Pure Python, no dependency beyond the bbdash package; fixed seed, so the file
comes out byte-identical (tests/python/sentiment/test_model.py checks it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from sentiment_training.build import WEIGHTS_PATH, build  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped file")
    args = parser.parse_args()
    text, report = build()
    for key, value in report.items():
        print(f"{key}: {value:.4f}")
    if args.check:
        same = WEIGHTS_PATH.exists() and WEIGHTS_PATH.read_text("utf-8") == text
        print("shipped weights reproduced" if same else "shipped weights differ")
        return 0 if same else 1
    WEIGHTS_PATH.write_text(text, "utf-8")
    print(f"wrote {WEIGHTS_PATH} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
