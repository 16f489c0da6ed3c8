"""Sentiment benchmark: macro-F1 per set and class, headlines/s on one core, model memory.

Run: .venv/bin/python bench/sentiment/run.py [--no-write]   (or `make bench`)

Rewrites only the section between the bench:sentiment markers of
docs/benchmarks.md. Held-out text is read here and nowhere in training or
tuning (docs/sentiment.md says what each set is and what its number shows).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from machine import cpu_model  # noqa: E402

sys.path[:0] = [
    str(ROOT / "files" / "feeders" / "training"),
    str(ROOT / "files" / "feeders" / "src"),
]

from bbdash.sentiment import SentimentScorer, default_scorer, label_for  # noqa: E402
from sentiment_training.corpus import Row, corpus_part, load_project  # noqa: E402
from sentiment_training.metrics import macro_f1, per_class_f1  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:sentiment:start -->", "<!-- bench:sentiment:end -->"
TARGET_CORPUS_F1 = 0.75
TARGET_PROJECT_F1 = 0.85
TARGET_RATE = 10_000.0
TARGET_MEMORY_MB = 50.0
WORDS = 25
VADER_BAND = 0.05  # VADER's documented compound thresholds

Classify = Callable[[str], str]

# (key, description); the order of the table.
SETS = (
    ("corpus_heldout", "corpus held-out (never tuned on)"),
    ("project_heldout", "project held-out"),
    ("project_postfreeze", "project post-freeze"),
    ("corpus_dev", "corpus dev (bands and knobs chosen on it)"),
    ("project_dev", "project dev (trained on)"),
)

# Measured in a fresh interpreter: the news feeder's modules first, then the model.
_MEMORY_PROBE = """
import sys
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
import bbdash.news_feeder.service  # the feeder's own imports, the model not yet built
before = rss_kb()
from bbdash.sentiment import default_scorer
scorer = default_scorer()
for line in sys.stdin:
    scorer.score(line)
print(before, rss_kb())
"""


def load_sets() -> dict[str, list[Row]]:
    return {
        "corpus_heldout": corpus_part("heldout"),
        "corpus_dev": corpus_part("dev"),
        "project_heldout": load_project("heldout"),
        "project_postfreeze": load_project("postfreeze"),
        "project_dev": load_project("dev"),
    }


def vader_classifier() -> Classify | None:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    analyzer = SentimentIntensityAnalyzer()

    def classify(text: str) -> str:
        return str(label_for(analyzer.polarity_scores(text)["compound"], VADER_BAND))

    return classify


def sentences_of(texts: Sequence[str], words: int) -> list[str]:
    """Sentences of exactly `words` words, cut from the stream of the given headlines."""
    stream = [w for text in texts for w in text.split()]
    return [" ".join(stream[i : i + words]) for i in range(0, len(stream) - words + 1, words)]


def throughput(
    score: Callable[[str], float], texts: list[str], total: int, runs: int
) -> tuple[float, float]:
    """Median headlines per CPU second and per wall-clock second over `runs` passes.

    The process is pinned to one core; CPU time counts only the time that core
    ran this process, so other jobs on a shared machine slow the wall-clock
    rate much more than the CPU-time rate (they still share caches).
    """
    corpus = (texts * (total // len(texts) + 1))[:total]
    cpu_rates, wall_rates = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        for text in corpus:
            score(text)
        cpu_rates.append(total / (time.process_time() - cpu))
        wall_rates.append(total / (time.perf_counter() - wall))
    return statistics.median(cpu_rates), statistics.median(wall_rates)


def model_memory_mb(texts: Sequence[str]) -> tuple[float, float]:
    """(feeder RSS before the model, RSS added by building it and scoring `texts`) in MB."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "files" / "feeders" / "src"))
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE],
        input="\n".join(texts),
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split()
    before, after = int(out[0]), int(out[1])
    return before / 1024, (after - before) / 1024


def write_section(body: str) -> None:
    text = DOC.read_text("utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{body}{END}{tail}", "utf-8")


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--total", type=int, default=50_000, help="sentences per timed pass")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    load = os.getloadavg()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, honestly

    model = default_scorer()
    lexicon = SentimentScorer()
    classifiers: dict[str, Classify] = {
        "model": lambda text: str(model.label(text)),
        "lexicon": lambda text: str(label_for(lexicon.score(text))),
    }
    vader = vader_classifier()
    if vader is not None:
        classifiers["vader"] = vader
    sets = load_sets()
    gold = {name: [str(g) for g, _ in rows] for name, rows in sets.items()}
    preds = {
        (who, name): [classify(t) for _, t in rows]
        for who, classify in classifiers.items()
        for name, rows in sets.items()
    }
    f1 = {key: macro_f1(gold[key[1]], pred) for key, pred in preds.items()}
    per_class = {name: per_class_f1(gold[name], preds[("model", name)]) for name in sets}

    project_texts = [t for name in ("project_heldout", "project_postfreeze") for _, t in sets[name]]
    long_sentences = sentences_of(project_texts + [t for _, t in sets["corpus_heldout"]], WORDS)
    rate, wall = throughput(model.score, long_sentences, args.total, args.runs)
    rate_lexicon, _ = throughput(lexicon.score, long_sentences, args.total, args.runs)
    all_texts = [t for rows in sets.values() for _, t in rows]
    before_mb, added_mb = model_memory_mb(all_texts)

    lines = [
        "## Sentiment (`bench/sentiment/run.py`)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu_model()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, one core (CPU affinity "
        f"pinned), load average at start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} "
        "(the machine is shared: throughput varies with its load), "
        "by `.venv/bin/python bench/sentiment/run.py`.",
        f"Scorer: `{model.version}` (lexicon + trained linear model), label bands "
        f"{model.bands.negative:+.2f} / {model.bands.positive:+.2f}.",
        "",
        "| set (rows) | trained model macro-F1 | negative F1 | neutral F1 | positive F1 "
        "| lexicon alone | VADER 3.3.2 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, role in SETS:
        pc = per_class[name]
        theirs = f"{f1[('vader', name)]:.3f}" if vader is not None else "not installed"
        lines.append(
            f"| {role} ({len(sets[name])}) | {f1[('model', name)]:.3f} | {pc['negative']:.3f} "
            f"| {pc['neutral']:.3f} | {pc['positive']:.3f} | {f1[('lexicon', name)]:.3f} "
            f"| {theirs} |"
        )
    corpus_f1 = f1[("model", "corpus_heldout")]
    project_f1 = f1[("model", "project_heldout")]
    lines += [
        "",
        f"- Throughput on {WORDS}-word sentences: **{rate:,.0f} sentences per CPU second** "
        f"on one core ({wall:,.0f} per wall-clock second; median of {args.runs} passes of "
        f"{args.total:,}; the lexicon alone: {rate_lexicon:,.0f} per CPU second).",
        f"- Memory: building the model and scoring {len(all_texts):,} texts adds "
        f"**{added_mb:.1f} MB** of RSS to a process holding the news feeder's modules "
        f"({before_mb:.1f} MB before).",
        f"- Target macro-F1 >= {TARGET_CORPUS_F1} on the corpus held-out part: "
        f"{_met(corpus_f1 >= TARGET_CORPUS_F1)} ({corpus_f1:.3f}).",
        f"- Target macro-F1 >= {TARGET_PROJECT_F1} on the project's held-out set: "
        f"{_met(project_f1 >= TARGET_PROJECT_F1)} ({project_f1:.3f}).",
        f"- Target >= {TARGET_RATE:,.0f} headlines/s on one core on {WORDS}-word sentences: "
        f"{_met(rate >= TARGET_RATE)}.",
        f"- Target <= {TARGET_MEMORY_MB:.0f} MB added by the loaded model: "
        f"{_met(added_mb <= TARGET_MEMORY_MB)}.",
        "- What each number does and does not show: docs/sentiment.md.",
        "",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
