"""faithcam vs plain inference and vs pytorch-grad-cam / torchcam / captum, per method, model
and batch size, in the same run, plus peak memory (RSS growth of one call in a fresh process).

    .venv/bin/python -m benchmarks.bench_peers [--repeats 3] [--models resnet18 resnet50]
"""

from __future__ import annotations

import argparse

import torch
import torchvision

import faithcam
from benchmarks.timing import alternate, peak_rss_mib, save, summarise

PGC = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
       "hirescam": "HiResCAM", "layercam": "LayerCAM"}
TORCHCAM = {"gradcam": "GradCAM", "gradcam++": "GradCAMpp", "xgradcam": "XGradCAM",
            "layercam": "LayerCAM"}


def sides(model, images, method: str) -> dict[str, str]:
    """Code of each side's call (also run in subprocesses for memory)."""
    calls = {
        "plain": "with torch.inference_mode():\n        model(images)",
        "faithcam": f"faithcam.explain(model, images, {method!r}, layer='layer4')",
        "pytorch-grad-cam": (
            f"from pytorch_grad_cam import {PGC[method]} as C\n"
            "    with C(model=model, target_layers=[model.layer4]) as cam:\n"
            "        cam(input_tensor=images, targets=None)"
        ),
    }
    if method in TORCHCAM:
        calls["torchcam"] = (
            f"from torchcam.methods import {TORCHCAM[method]} as C\n"
            "    with C(model, target_layer='layer4') as extractor:\n"
            "        out = model(images)\n"
            "        extractor(out.argmax(1).tolist(), out)\n"
            "    model.zero_grad(set_to_none=True)"
        )
    if method == "gradcam":
        calls["captum"] = (
            "from captum.attr import LayerGradCam\n"
            "    with torch.no_grad():\n        target = model(images).argmax(1)\n"
            "    LayerGradCam(model, model.layer4).attribute(images, target=target)\n"
            "    model.zero_grad(set_to_none=True)"
        )
    return calls


def as_function(code: str, namespace: dict):
    exec(f"def run():\n    {code}\n", namespace)
    return namespace["run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--methods", nargs="+", default=list(PGC))
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS per side")
    args = parser.parse_args()
    results = []
    print(f"{'model':<9} {'B':>2} {'method':<10} {'side':<17} {'ms/img':>8} {'x plain':>8} "
          f"{'x faithcam':>10} {'MiB':>6}")
    for model_name in args.models:
        torch.manual_seed(0)
        model = getattr(torchvision.models, model_name)(weights=None).eval()
        for batch in args.batches:
            images = torch.rand(batch, 3, 224, 224)
            for method in args.methods:
                codes = sides(model, images, method)
                namespace = {"torch": torch, "faithcam": faithcam, "model": model,
                             "images": images}
                times = alternate({k: as_function(v, namespace) for k, v in codes.items()},
                                  args.repeats)
                rows = summarise(times, "plain", per=batch)
                ours = next(r for r in rows if r["side"] == "faithcam")["best_s"]
                for row in rows:
                    memory = float("nan")
                    if args.memory:
                        setup = (
                            "import torch, torchvision, faithcam\ndef setup():\n"
                            "    global model, images\n    torch.manual_seed(0)\n"
                            f"    model = torchvision.models.{model_name}(weights=None).eval()\n"
                            f"    images = torch.rand({batch}, 3, 224, 224)\n"
                        )
                        memory = peak_rss_mib(setup + f"def run():\n    {codes[row['side']]}\n")
                    row.update(model=model_name, batch=batch, method=method, peak_mib=memory,
                               vs_faithcam=row["best_s"] / ours)
                    results.append(row)
                    print(f"{model_name:<9} {batch:>2} {method:<10} {row['side']:<17} "
                          f"{1000 * row['best_s']:>8.1f} {row['ratio_best']:>8.2f} "
                          f"{row['vs_faithcam']:>10.2f} {memory:>6.0f}", flush=True)
    print(f"saved {save('peers', {'rows': results})}")


if __name__ == "__main__":
    main()
