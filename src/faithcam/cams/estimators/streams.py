"""Per-image random streams: the draws of an image's sample rows depend only on the call's seed,
the image's content and the row's position, never on the other images of the call, their
order, ``batch_size`` or the chunking, so the same image gives the same map in any batch.

Counter-based seeding: the draw ``stream`` (α, baseline, kernel noise, ...) of row ``position``
of an image uses a generator seeded with hash(base seed, image key, position, stream), the
image key being a hash of the image's bytes (dtype, shape and values). The base seed is drawn
once per call from the call's generator (``seed=`` gives the same one every time), or from
torch's global RNG without one.
"""

from __future__ import annotations

import hashlib

import torch

SEED_BITS = 62  # seeds fit torch.Generator.manual_seed and a signed 64-bit integer


def _hash(*parts: object) -> int:
    """A 62-bit integer from ``parts`` (BLAKE2b, stable across runs and platforms)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> (64 - SEED_BITS)


def image_key(image: torch.Tensor) -> int:
    """A 62-bit hash of one image's dtype, shape and values (its bytes on the CPU)."""
    data = image.detach().to("cpu").contiguous()
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{data.dtype}{tuple(data.shape)}".encode())
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return int.from_bytes(digest.digest(), "little") >> (64 - SEED_BITS)


class Streams:
    """Reproducible draws per (image, row position, stream); see the module docstring."""

    def __init__(self, base_seed: int, keys: list[int], device: torch.device | str) -> None:
        self.base_seed = int(base_seed)
        self.keys = keys
        self.device = torch.device(device)
        self._generator = torch.Generator(device=self.device)

    @classmethod
    def of(cls, images: torch.Tensor, generator: torch.Generator | None) -> Streams:
        """The streams of a call: its images' keys and a base seed from ``generator``."""
        device = generator.device if generator is not None else images.device
        base = int(torch.randint(2**SEED_BITS, (1,), generator=generator, device=device))
        return cls(base, [image_key(image) for image in images], device)

    def seed(self, image: int, stream: str, position: int | None = None) -> int:
        """The seed of ``stream`` for row ``position`` of ``image`` (or the whole image)."""
        return _hash(self.base_seed, self.keys[image], stream, position)

    def generator(self, image: int, stream: str, position: int | None = None) -> torch.Generator:
        """A generator seeded for (image, stream, position) (one object, re-seeded per call)."""
        return self._generator.manual_seed(self.seed(image, stream, position))

    def uniform(
        self, image_index: torch.Tensor, position: torch.Tensor, stream: str, shape: tuple = ()
    ) -> torch.Tensor:
        """(N, *shape) float64 draws from U(0, 1), open at both ends, one block per row."""
        rows = []
        for b, p in zip(image_index.tolist(), position.tolist(), strict=True):
            g = self.generator(b, stream, p)
            rows.append(torch.rand(shape, generator=g, device=self.device, dtype=torch.float64))
        if not rows:
            return torch.empty((0, *shape), dtype=torch.float64, device=self.device)
        # [0, 1) → (0, 1): the inverse normal CDF of an exact 0 would be −∞
        return torch.stack(rows) * (1 - 2.0**-52) + 2.0**-53

    def integers(
        self, image: int, stream: str, high: torch.Tensor | int, size: int
    ) -> torch.Tensor:
        """``size`` integers of ``image``'s ``stream``, uniform on {0, …, high − 1}."""
        g = self.generator(image, stream)
        return torch.randint(2**SEED_BITS, (size,), generator=g, device=self.device) % high
