"""Score-CAM and Ablation-CAM speed on CPU: ResNet-50 (weights=None, seeded), batch 1, 224x224.

1. Ablation-CAM at layer4 (K = 2048) vs pytorch-grad-cam's AblationCAM (target: >= 10x faster).
   The peer re-runs the network up to the layer for every ablated channel, so it is timed on
   the first ``--peer-channels`` channels (its own ``get_cam_weights`` on a channel slice) and
   extrapolated linearly to K; ``--peer-channels 0`` times it on all K.
2. Score-CAM at ``--layer`` (layer1, K = 256 by default: its cost is K forwards at any layer,
   and 2048 forwards of ResNet-50 take minutes on 2 cores) vs K plain batched forwards of
   masked images (target: <= 1.15x) and vs pytorch-grad-cam's ScoreCAM (whole public call,
   same layer, not extrapolated; target: not slower). Sides alternate; the peer runs
   ``--peer-repeats`` times. The layer4 (K = 2048) time per image is extrapolated from it.

Best and median are reported where a side runs more than once.

    .venv/bin/python benchmarks/bench_gradient_free.py [--repeats 2] [--layer layer4]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torchvision
from pytorch_grad_cam import AblationCAM as PeerAblationCAM
from pytorch_grad_cam import ScoreCAM as PeerScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

import faithcam


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def summary(name: str, times: list[float]) -> str:
    if len(times) == 1:
        return f"{name:>34}: {times[0]:8.2f} s"
    return f"{name:>34}: best {min(times):8.2f} s  median {statistics.median(times):8.2f} s"


def layer_activations(model: torch.nn.Module, layer: torch.nn.Module, images) -> np.ndarray:
    out = []
    handle = layer.register_forward_hook(lambda _m, _i, o: out.append(o.detach()))
    try:
        with torch.no_grad():
            model(images)
    finally:
        handle.remove()
    return out[0].numpy()


def peer_seconds(peer_cls, model, layer_name, images, class_id, channels: int) -> float:
    """Seconds of the peer's channel weights on the first ``channels`` channels (0: all)."""
    layer = dict(model.named_modules())[layer_name]
    activations = layer_activations(model, layer, images)
    if channels:
        activations = activations[:, :channels]
    cam = peer_cls(model=model, target_layers=[layer])
    try:
        targets = [ClassifierOutputTarget(class_id)]
        return timed(lambda: cam.get_cam_weights(images, layer, targets, activations, None))
    finally:
        cam.activations_and_grads.release()


def peer_scorecam(model, layer_name, images, class_id) -> None:
    """pytorch-grad-cam's ScoreCAM, its whole public call."""
    layer = dict(model.named_modules())[layer_name]
    with PeerScoreCAM(model=model, target_layers=[layer]) as cam:
        cam(input_tensor=images, targets=[ClassifierOutputTarget(class_id)])


def ratio(name: str, ours: list[float], other: list[float], target: str) -> str:
    best = min(ours) / min(other)
    median = statistics.median(ours) / statistics.median(other)
    return f"{name:>34}: best {best:.3f}x  median {median:.3f}x  ({target})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--peer-repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--peer-channels", type=int, default=64)
    parser.add_argument("--layer", default="layer1")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    images = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        class_id = int(model(images).argmax(1))
    bs = args.batch_size
    print(
        f"resnet50 (weights=None), 1 image 224x224, batch_size {bs}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )

    def explain(method: str, layer: str) -> faithcam.CamResult:
        return faithcam.explain(
            model, images, method, class_id, layer, batch_size=bs, progress=False
        )

    # 1. Ablation-CAM ------------------------------------------------------------------------
    K = 2048
    explain("ablationcam", "layer4")  # warm-up
    n_peer = args.peer_channels or K
    ours, peer = [], []
    for _ in range(args.repeats):
        peer.append(peer_seconds(PeerAblationCAM, model, "layer4", images, class_id, n_peer))
        ours.append(timed(lambda: explain("ablationcam", "layer4")))
    peer_full = [t * K / n_peer for t in peer]
    print(f"\n[1] Ablation-CAM, layer4, K = {K}")
    print(summary("faithcam AblationCAM", ours))
    print(summary(f"pytorch-grad-cam, {n_peer} channels", peer))
    if n_peer != K:
        print(summary(f"pytorch-grad-cam, x{K / n_peer:g} -> K", peer_full))
    print(ratio("faithcam / pytorch-grad-cam", ours, peer_full, "target <= 0.1x"))
    print(
        f"{'speed-up vs pytorch-grad-cam':>34}: best {min(peer_full) / min(ours):.0f}x  median "
        f"{statistics.median(peer_full) / statistics.median(ours):.0f}x  (target >= 10x)"
    )

    # 2. Score-CAM ---------------------------------------------------------------------------
    module = dict(model.named_modules())[args.layer]
    channels = layer_activations(model, module, images).shape[1]
    masked = images * torch.rand(bs, 1, 224, 224, generator=torch.Generator().manual_seed(2))

    def plain() -> None:
        with torch.inference_mode():
            for start in range(0, channels, bs):
                model(masked[: min(bs, channels - start)])

    result = explain("scorecam", args.layer)  # warm-up, and the number of forwards
    ours, base, peer = [], [], []
    for i in range(args.repeats):
        base.append(timed(plain))
        ours.append(timed(lambda: explain("scorecam", args.layer)))
        if i < args.peer_repeats:
            peer.append(timed(lambda: peer_scorecam(model, args.layer, images, class_id)))
    print(f"\n[2] Score-CAM, {args.layer}, K = {channels}")
    print(f"{'masked forwards (distinct masks)':>34}: {result.settings['forwards']}")
    print(summary("faithcam ScoreCAM", ours))
    print(summary(f"{channels} plain batched forwards", base))
    print(summary("pytorch-grad-cam ScoreCAM", peer))
    print(ratio("faithcam / K plain forwards", ours, base, "target <= 1.15x"))
    print(ratio("faithcam / pytorch-grad-cam", ours, peer, "target <= 1x"))
    if channels != K:
        scale = K / channels
        print(
            f"{'layer4 (K = 2048) per image, est.':>34}: faithcam "
            f"{statistics.median(ours) * scale:.0f} s, pytorch-grad-cam "
            f"{statistics.median(peer) * scale:.0f} s (x{scale:g}, linear in K)"
        )


if __name__ == "__main__":
    main()
