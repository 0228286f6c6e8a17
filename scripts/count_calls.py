"""Count the distinct faithcam functions a Grad-CAM call runs (ResNet-18, one 224 x 224 image,
layer4), traced with sys.settrace after a warm-up call; also the files and the module moves.

    PYTHONPATH=src python scripts/count_calls.py
"""

import sys

import torch
import torchvision

import faithcam

torch.manual_seed(0)
model = torchvision.models.resnet18(weights=None).eval()
x = torch.randn(1, 3, 224, 224)
faithcam.explain(model, x, "gradcam", layer=model.layer4)  # warm-up (imports)
seen, files, prev, moves = set(), set(), [None], [0]
def tracer(frame, event, arg):
    if event == "call":
        f = frame.f_code.co_filename
        if "/faithcam/" in f:
            seen.add((f, frame.f_code.co_name, frame.f_code.co_firstlineno))
            files.add(f)
            if prev[0] is not None and prev[0] != f:
                moves[0] += 1
            prev[0] = f
    return None
sys.settrace(tracer)
faithcam.explain(model, x, "gradcam", layer=model.layer4)
sys.settrace(None)
print("distinct faithcam functions:", len(seen), "files:", len(files), "module moves:", moves[0])
