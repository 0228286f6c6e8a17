"""Train the ShapesBench models bundled in ``src/faithcam/data/weights``.

    .venv/bin/python scripts/train_shapes.py            # all bundled models
    .venv/bin/python scripts/train_shapes.py --only vgg-spurious --out /tmp/w

Deterministic: one CPU thread, ``torch.use_deterministic_algorithms(True)``, seeded
initialisation and data order; every epoch trains on a freshly generated ShapesBench set (seeds
disjoint from the test set's). Prints the test accuracy (must be >= 95 %), the time and the
SHA-256 of each weights file, then the ``WEIGHTS_SHA256`` table to paste into
``faithcam/data/models.py``. Same torch version and CPU, same bytes.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from faithcam.data.models import WEIGHTS_DIR, build_model, sha256
from faithcam.data.shapes import ShapesBench


@dataclass(frozen=True)
class Recipe:
    arch: str
    split: str
    seed: int
    epochs: int = 6
    train_size: int = 8000
    batch_size: int = 64
    lr: float = 3e-3

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.split}"


RECIPES = (
    Recipe("resnet", "clean", seed=1),
    Recipe("vgg", "clean", seed=2),
    Recipe("vgg", "spurious", seed=3),
)
TEST_SEED = 10_000  # test sets; training seeds are recipe.seed * 100 + epoch (< 10 000)
TEST_SIZE = 2000
MIN_ACCURACY = 0.95


def set_deterministic(seed: int) -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)


@torch.no_grad()
def accuracy(model: nn.Module, bench: ShapesBench, batch_size: int = 256) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(bench), batch_size):
        logits = model(bench.images[start : start + batch_size])
        correct += int((logits.argmax(1) == bench.labels[start : start + batch_size]).sum())
    return correct / len(bench)


def train(recipe: Recipe, test: ShapesBench, log=print) -> tuple[nn.Module, float]:
    """Train one model; returns it (in eval mode) and its test accuracy."""
    set_deterministic(recipe.seed)
    model = build_model(recipe.arch)
    steps = recipe.epochs * (recipe.train_size // recipe.batch_size)
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, recipe.lr, total_steps=steps)
    order = torch.Generator().manual_seed(recipe.seed)
    for epoch in range(recipe.epochs):
        data = ShapesBench(recipe.split, recipe.train_size, seed=recipe.seed * 100 + epoch)
        model.train()
        permutation = torch.randperm(recipe.train_size, generator=order)
        total = 0.0
        for start in range(0, recipe.train_size - recipe.batch_size + 1, recipe.batch_size):
            index = permutation[start : start + recipe.batch_size]
            loss = F.cross_entropy(model(data.images[index]), data.labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
        log(
            f"  {recipe.name} epoch {epoch + 1}/{recipe.epochs}: "
            f"loss {total / recipe.train_size:.4f}, test accuracy {accuracy(model, test):.4f}"
        )
    return model.eval(), accuracy(model, test)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="weights directory")
    parser.add_argument("--only", nargs="*", help="recipe names, e.g. vgg-spurious")
    args = parser.parse_args(argv)
    recipes = [r for r in RECIPES if not args.only or r.name in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    table, failed, begin = [], [], time.perf_counter()
    for recipe in recipes:
        start = time.perf_counter()
        test = ShapesBench(recipe.split, TEST_SIZE, seed=TEST_SEED)
        model, acc = train(recipe, test)
        path = args.out / f"{recipe.name}.pt"
        torch.save(model.state_dict(), path)
        digest = sha256(path)
        seconds = time.perf_counter() - start
        print(
            f"{recipe.name}: test accuracy {acc:.4f} on {TEST_SIZE} images (seed {TEST_SEED}), "
            f"{seconds:.0f} s, {path} {path.stat().st_size / 1024:.0f} KiB sha256 {digest}"
        )
        table.append(f'    ("{recipe.arch}", "{recipe.split}"): "{digest}",')
        if acc < MIN_ACCURACY:
            failed.append(recipe.name)
    print(f"total training time {time.perf_counter() - begin:.0f} s")
    print("WEIGHTS_SHA256 = {\n" + "\n".join(table) + "\n}")
    if failed:
        print(f"FAILED: accuracy below {MIN_ACCURACY:.0%}: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
