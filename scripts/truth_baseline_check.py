"""Is the seed methods' miss on MobileNetV2 features.16 (docs/truth.md) the truth's baseline?

The Shapley truth with the black image's activations as the absent value (what Integrated and
Expected Grad-CAM's black baseline measures from) beside the leaderboard's zero-activation truth,
against four methods, per photo. python scripts/truth_baseline_check.py (about 4 min on 2 cores).
"""

import time

import torch

import faithcam
from faithcam.truth.cases import cases
from faithcam.truth.scores import agreement
from faithcam.truth.shapley import shapley

torch.manual_seed(0)
data = cases(["mobilenet"])[0].load(16, False)
mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in data.normalization)
black = ((0 - mean) / std).expand(1, 3, 224, 224)
t0 = time.time()
truths = {}
for name, kw in {"zero": {}, "black": {"baseline": "reference", "reference": black}}.items():
    truths[name] = shapley(data.model, data.images, None, data.layer, samples=32, seed=0, **kw)
print("truths", round(time.time() - t0), "s", flush=True)
targets = truths["zero"].targets
methods = {
    "hirescam": {},
    "gradcam": {},
    "integrated-gradcam": {},
    "expected-gradcam": {},
    "integrated-gradcam/averaged": {"variant": "averaged-gradient"},
}
for label, opts in methods.items():
    method = label.split("/")[0]
    maps = faithcam.explain(
        data.model,
        data.images,
        method,
        targets,
        data.layer,
        seed=0,
        normalization=data.normalization,
        **opts,
    ).raw_maps
    for name, truth in truths.items():
        rho = [agreement(maps[b], truth.values[b])["spearman"] for b in range(len(maps))]
        print(
            f"{label:32s} vs {name:5s} truth: mean Spearman {sum(rho) / len(rho):+.2f} "
            f"({', '.join(f'{r:+.2f}' for r in rho)})",
            flush=True,
        )
print("total", round(time.time() - t0), "s")
