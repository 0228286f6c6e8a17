"""The breadth methods and options against their peers, in the same run, alternating sides:
pytorch-grad-cam 1.5.7 for its methods, torchcam 0.5.0 for SS-CAM / IS-CAM.

    .venv/bin/python -m benchmarks.bench_methods [--repeats 3] [--models resnet18] [--batch 4]

Prints ms per image for each side and ``peer / faithcam`` (> 1: faithcam is faster).
"""

from __future__ import annotations

import argparse
import copy

import torch
import torchvision

import faithcam
from benchmarks.bench_peers import as_function
from benchmarks.timing import alternate, save, summarise

PGC = (
    "from pytorch_grad_cam import {cls} as C\n"
    "    with C(model=model, target_layers={layers}) as cam:\n"
    "        cam(input_tensor=images, targets=None{kw})"
)
TORCHCAM = (
    "from torchcam.methods import {cls} as C\n"
    "    with C(model, target_layer='layer4', batch_size=32, num_samples=2,"
    " input_shape=tuple(images.shape[1:])) as extractor:\n"
    "        with torch.no_grad():\n            out = model(images)\n"
    "        extractor(out.argmax(1).tolist(), out)"
)
GUIDED_PEER = (
    "from pytorch_grad_cam import GradCAM, GuidedBackpropReLUModel\n"
    "    with GradCAM(model=model, target_layers=[model.layer4]) as cam:\n"
    "        maps = cam(input_tensor=images, targets=None)\n"
    "    guided = GuidedBackpropReLUModel(peer_model, device='cpu')\n"
    "    for i in range(len(images)):\n"
    "        guided(images[i : i + 1].clone()) * maps[i][..., None]\n"
    "    peer_model.zero_grad(set_to_none=True)"
)


def cases() -> dict[str, tuple[str, str]]:
    """name -> (faithcam code, peer code)."""
    one = "[model.layer4]"

    def ours(method: str, extra: str = "", layer: str = "'layer4'") -> str:
        return f"faithcam.explain(model, images, {method!r}, layer={layer}{extra})"

    plain = {
        "gradcam-elementwise": "GradCAMElementWise",
        "eigencam": "EigenCAM",
        "eigengradcam": "EigenGradCAM",
        "kpcacam": "KPCA_CAM",
        "shapleycam": "ShapleyCAM",
        "finercam": "FinerCAM",
        "randomcam": "RandomCAM",
    }
    table = {name: (ours(name), PGC.format(cls=c, layers=one, kw="")) for name, c in plain.items()}
    table |= {
        "fullgrad": (
            ours("fullgrad", layer="None"),
            PGC.format(cls="FullGrad", layers="[]", kw=""),
        ),
        "guided-gradcam": (ours("guided-gradcam"), GUIDED_PEER),
        "gradcam eigen_smooth": (
            ours("gradcam", ", eigen_smooth=True"),
            PGC.format(cls="GradCAM", layers=one, kw=", eigen_smooth=True"),
        ),
        "gradcam aug_smooth": (
            ours("gradcam", ", aug_smooth=True"),
            PGC.format(cls="GradCAM", layers=one, kw=", aug_smooth=True"),
        ),
        "gradcam layer3+layer4": (
            ours("gradcam", layer="['layer3', 'layer4']"),
            PGC.format(cls="GradCAM", layers="[model.layer3, model.layer4]", kw=""),
        ),
    }
    for name in list(table):
        table[name] = (table[name][0], table[name][1] + "\n    model.zero_grad(set_to_none=True)")
    return table


SCORE_CASES = {
    "sscam": ("faithcam.explain(model, images, 'sscam', layer='layer4', samples=2, batch_size=32,"
              " seed=0)", TORCHCAM.format(cls="SSCAM")),
    "iscam": ("faithcam.explain(model, images, 'iscam', layer='layer4', samples=2, batch_size=32)",
              TORCHCAM.format(cls="ISCAM")),
}


def run_case(name: str, codes: tuple[str, str], namespace: dict, repeats: int, batch: int):
    sides = {"faithcam": as_function(codes[0], dict(namespace)),
             "peer": as_function(codes[1], dict(namespace))}
    rows = summarise(alternate(sides, repeats), "faithcam", per=batch)
    ours, peer = rows[0], rows[1]
    print(f"  {name:<24} {1000 * ours['best_s']:>9.1f} {1000 * peer['best_s']:>9.1f} "
          f"{peer['ratio_best']:>8.2f} {peer['ratio_median']:>10.2f}", flush=True)
    return {"case": name, "faithcam_s": ours["best_s"], "peer_s": peer["best_s"],
            "peer_over_faithcam_best": peer["ratio_best"],
            "peer_over_faithcam_median": peer["ratio_median"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["resnet18"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--score-size", type=int, default=32,
                        help="image size for SS-CAM / IS-CAM (B·K·N forwards)")
    parser.add_argument("--cases", nargs="+", default=None, help="a subset of the cases")
    args = parser.parse_args()
    results = []
    for model_name in args.models:
        torch.manual_seed(0)
        model = getattr(torchvision.models, model_name)(weights=None).eval()
        images = torch.rand(args.batch, 3, args.size, args.size)
        small = torch.rand(1, 3, args.score_size, args.score_size)
        print(f"\n{model_name}, batch {args.batch}, {args.size}x{args.size} "
              f"(SS/IS-CAM: 1 image, {args.score_size}x{args.score_size}, 2 samples)")
        print(f"  {'case':<24} {'ours ms':>9} {'peer ms':>9} {'peer/us':>8} {'(median)':>10}")
        namespace = {"torch": torch, "faithcam": faithcam, "model": model, "images": images,
                     "peer_model": copy.deepcopy(model)}
        for name, codes in cases().items():
            if args.cases and name not in args.cases:
                continue
            row = run_case(name, codes, namespace, args.repeats, args.batch)
            results.append({"model": model_name, "batch": args.batch, **row})
        for name, codes in SCORE_CASES.items():
            if args.cases and name not in args.cases:
                continue
            row = run_case(name, codes, {**namespace, "images": small}, args.repeats, 1)
            results.append({"model": model_name, "batch": 1, **row})
    print(f"saved {save('methods', {'rows': results})}")


if __name__ == "__main__":
    main()
