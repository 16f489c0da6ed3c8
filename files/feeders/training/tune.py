"""Dev-split search over the training knobs (reads the train and dev sides only).

    .venv/bin/python files/feeders/training/tune.py

Prints the dev macro-F1 of every point of the grid; the chosen point is
written into `sentiment_training.build.HYPER` by hand, and the grid is listed
in docs/sentiment.md.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from sentiment_training.build import HYPER, build  # noqa: E402
from sentiment_training.sgd import Hyper  # noqa: E402

# First round: epochs (4, 8, 16) x learning_rate (0.02, 0.05, 0.1) x balance (0, 0.5, 1)
# x project_weight (1, 3): more epochs and a larger rate were better. Second round:
GRID = {
    "epochs": (16, 24),
    "learning_rate": (0.1, 0.2, 0.4),
    "balance": (0.5,),
    "project_weight": (3.0,),
}


def _one(hyper: Hyper) -> tuple[Hyper, dict[str, float]]:
    return hyper, build(hyper)[1]


def main() -> int:
    points = [
        dataclasses.replace(HYPER, **dict(zip(GRID, values, strict=True)))
        for values in itertools.product(*GRID.values())
    ]
    with ProcessPoolExecutor() as pool:
        for hyper, report in pool.map(_one, points):
            print(
                f"epochs={hyper.epochs} lr={hyper.learning_rate} balance={hyper.balance} "
                f"project_weight={hyper.project_weight}: "
                f"dev {report['dev_macro_f1_bands']:.4f} "
                f"(argmax {report['dev_macro_f1_argmax']:.4f})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
