"""Exact Shapley values by enumerating every coalition (Shapley, 1953):

    φ_i = Σ_{S ⊆ N∖{i}} |S|! (n − |S| − 1)! / n! · (v(S ∪ {i}) − v(S)),

with v evaluated once per coalition (2ⁿ values, in batches); coalition S is the bit mask
Σ_{p ∈ S} 2^p. Used up to :data:`MAX_EXACT_PLAYERS` players.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

MAX_EXACT_PLAYERS = 16  # 65,536 coalitions


def coalition_masks(codes: torch.Tensor, players: int) -> torch.Tensor:
    """(N, players) boolean masks of the coalitions numbered ``codes`` (bit p = player p)."""
    bits = torch.arange(players, dtype=torch.long)
    return (codes[:, None] >> bits) & 1 == 1


def all_values(
    values: Callable[[torch.Tensor], torch.Tensor],
    players: int,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """v of all 2ⁿ coalitions, float64, indexed by their code."""
    total = 1 << players
    parts = []
    for start in range(0, total, batch_size):
        codes = torch.arange(start, min(start + batch_size, total), dtype=torch.long)
        parts.append(values(coalition_masks(codes, players)))
        if progress is not None:
            progress(len(codes))
    return torch.cat(parts)


def shapley_from_values(v: torch.Tensor) -> torch.Tensor:
    """φ (n,) from the 2ⁿ coalition values ``v`` (float64, indexed by code)."""
    players = int(len(v)).bit_length() - 1
    codes = torch.arange(len(v), dtype=torch.long)
    sizes = coalition_masks(codes, players).sum(1)
    weights = torch.tensor(
        [
            math.factorial(s) * math.factorial(players - s - 1) / math.factorial(players)
            for s in range(players)
        ],
        dtype=torch.float64,
    )
    phi = torch.empty(players, dtype=torch.float64)
    for p in range(players):
        without = codes[(codes >> p) & 1 == 0]
        gains = v[without | (1 << p)] - v[without]
        phi[p] = (weights[sizes[without]] * gains).sum()
    return phi
