"""Cost of the Shapley truth at the layer (faithcam.truth.shapley), issue 23.

ResNet-50 (weights=None, seeded), one 128 x 128 image: ``layer4`` is a 4 x 4 grid, so the exact
truth evaluates all 2^16 = 65,536 coalitions. Measured in the same run:

1. the exact truth, end to end (the graph route: only avgpool + fc run per coalition);
2. one batch of 256 coalitions through each route, graph and full-forward (the whole network
   per coalition with a hook at the layer): best and median of the repeats, and their ratio.

    .venv/bin/python -m benchmarks.bench_truth [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision

from benchmarks.timing import alternate, print_rows, save, summarise
from faithcam.engine.layers import resolve_layer
from faithcam.truth import shapley
from faithcam.truth.downstream import Head, build_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--coalitions", type=int, default=256)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    image = torch.rand(1, 3, 128, 128)
    layer = resolve_layer(model, "layer4", image)

    def score(outputs: torch.Tensor) -> torch.Tensor:
        return outputs[:, 0]

    with torch.no_grad():
        graph = build_head(model, layer, image, score)
        full = Head(model, layer)  # the full-forward route
        prepared = {"graph": graph.prepare(image), "full": full.prepare(image)}
        keep = torch.rand(args.coalitions, 1, 4, 4) > 0.5
        values = torch.where(keep, prepared["graph"].value, 0.0)
        times = alternate(
            {
                "graph route": lambda: graph.run(prepared["graph"], values),
                "full-forward route": lambda: full.run(prepared["full"], values),
            },
            args.repeats,
        )
    rows = summarise(times, "graph route", per=args.coalitions)
    print(f"route taken by shapley(): {graph.route} {graph.reason}")
    print_rows(f"{args.coalitions} coalitions of ResNet-50 layer4 (4 x 4)", rows, "per coalition")
    start = time.perf_counter()
    result = shapley(model, image, targets=0, layer="layer4")
    exact_s = time.perf_counter() - start
    print(f"\nexact truth, 65,536 coalitions: {exact_s:.1f} s (route {result.route}, "
          f"efficiency gap {float(result.efficiency_gap.abs().max()):.1e})")  # fmt: skip
    path = save(
        "truth",
        {
            "model": "resnet50(weights=None), 1 x 3 x 128 x 128, layer4 (4 x 4)",
            "threads": torch.get_num_threads(),
            "per_coalition": rows,
            "exact_seconds": exact_s,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
