"""Sentiment benchmark: macro-F1 on held-out headlines and headlines/s on one core.

Run: .venv/bin/python bench/sentiment/run.py [--no-write]

Rewrites only the section between the bench:sentiment markers of
docs/benchmarks.md. The held-out files are read, never tuned on (see
docs/sentiment.md for how they were written and split).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "files" / "feeders" / "src"))

from bbdash.sentiment import SentimentScorer, label_for  # noqa: E402

DATA = ROOT / "tests" / "python" / "sentiment" / "data"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:sentiment:start -->", "<!-- bench:sentiment:end -->"
LABELS = ("negative", "neutral", "positive")
TARGET_F1 = 0.65
TARGET_RATE = 10_000.0
VADER_BAND = 0.05  # VADER's documented compound thresholds


def load(name: str) -> list[tuple[str, str]]:
    """(label, headline) rows of one data file."""
    rows = []
    for line in (DATA / f"headlines_{name}.tsv").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((label, text))
    return rows


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the three classes."""
    scores = []
    for cls in LABELS:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == cls and p == cls)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != cls and p == cls)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == cls and p != cls)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def evaluate(rows: list[tuple[str, str]], classify: Callable[[str], str]) -> float:
    return macro_f1([g for g, _ in rows], [classify(t) for _, t in rows])


def vader_classifier() -> Callable[[str], str] | None:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    analyzer = SentimentIntensityAnalyzer()

    def classify(text: str) -> str:
        compound = analyzer.polarity_scores(text)["compound"]
        return str(label_for(compound, VADER_BAND))

    return classify


def throughput(score: Callable[[str], float], texts: list[str], total: int, runs: int) -> float:
    """Median headlines/s over `runs` passes of `total` headlines."""
    corpus = (texts * (total // len(texts) + 1))[:total]
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for text in corpus:
            score(text)
        rates.append(total / (time.perf_counter() - start))
    return statistics.median(rates)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_section(body: str) -> None:
    text = DOC.read_text("utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{body}{END}{tail}", "utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--total", type=int, default=100_000, help="headlines per timed pass")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, honestly

    scorer = SentimentScorer()
    ours = lambda text: str(scorer.label(text))  # noqa: E731
    vader = vader_classifier()
    sets = {name: load(name) for name in ("dev", "heldout", "postfreeze")}
    f1 = {name: evaluate(rows, ours) for name, rows in sets.items()}
    vader_f1 = {name: evaluate(rows, vader) for name, rows in sets.items()} if vader else {}
    texts = [t for rows in sets.values() for _, t in rows]
    rate = throughput(scorer.score, texts, args.total, args.runs)

    met_f1 = f1["heldout"] >= TARGET_F1
    met_rate = rate >= TARGET_RATE
    sizes = {name: len(rows) for name, rows in sets.items()}
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu_model()}, "
        f"Python {platform.python_version()}, one core (CPU affinity pinned), "
        "by `.venv/bin/python bench/sentiment/run.py`.",
        "",
        "| set (headlines) | bbdash.sentiment macro-F1 | VADER 3.3.2 macro-F1 |",
        "| --- | --- | --- |",
    ]
    for name in ("heldout", "postfreeze", "dev"):
        theirs = f"{vader_f1[name]:.3f}" if vader_f1 else "not installed"
        role = {
            "heldout": "held-out",
            "postfreeze": "post-freeze",
            "dev": "dev (tuned on)",
        }[name]
        lines.append(f"| {role} ({sizes[name]}) | {f1[name]:.3f} | {theirs} |")
    lines += [
        "",
        f"- Throughput: **{rate:,.0f} headlines/s** (median of {args.runs} passes of "
        f"{args.total:,} headlines).",
        f"- Target macro-F1 >= {TARGET_F1} on the held-out set: "
        f"**{'met' if met_f1 else 'not met'}** ({f1['heldout']:.3f}).",
        f"- Target >= {TARGET_RATE:,.0f} headlines/s on one core: "
        f"**{'met' if met_rate else 'not met'}**.",
        "- The held-out and post-freeze sets were written by the project, not drawn from a "
        "public corpus; see docs/sentiment.md for what that does and does not show.",
        "",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
