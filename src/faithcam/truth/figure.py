"""The leaderboard's picture: rank correlation with the truth, methods × cases (matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from faithcam.truth.leaderboard import Summary
from faithcam.truth.report import standings


def heatmap(summaries: list[Summary], path: Path, score: str = "spearman") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(s.case for s in summaries))
    methods = [s.method for s in standings(summaries)]
    found = {(s.method, s.case): s for s in summaries}
    grid = np.full((len(methods), len(cases)), np.nan)
    for i, method in enumerate(methods):
        for j, case in enumerate(cases):
            s = found.get((method, case))
            if s is not None and s.status == "ok" and math.isfinite(s.means[score][0]):
                grid[i, j] = s.means[score][0]
    figure, axes = plt.subplots(
        figsize=(max(5.0, 3.0 + 0.55 * len(cases)), max(3.0, 1.6 + 0.24 * len(methods))),
        layout="constrained",
    )
    image = axes.imshow(grid, cmap="RdYlGn", vmin=-1, vmax=1, aspect="auto")
    axes.set_xticks(range(len(cases)), cases, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(methods)), methods, fontsize=7)
    for i in range(len(methods)):
        for j in range(len(cases)):
            if math.isfinite(grid[i, j]):
                axes.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6)
    figure.colorbar(image, ax=axes, label="Spearman ρ with the truth (φ⁺)", shrink=0.6)
    axes.set_title("Rank correlation of ReLU(map) with the Shapley truth (grey: n/a)", fontsize=9)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
