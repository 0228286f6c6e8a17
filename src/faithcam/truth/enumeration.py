"""Exact Shapley values by enumerating every coalition (Shapley, 1953):

    φ_i = Σ_{S ⊆ N∖{i}} |S|! (n − |S| − 1)! / n! · (v(S ∪ {i}) − v(S)),

with v evaluated once per coalition (2ⁿ values, in batches); coalition S is the bit mask
Σ_{p ∈ S} 2^p. Grouping the terms by coalition instead of by pair gives the same sum as two
matrix-vector products over the coalitions:

    φ_i = Σ_{S ∋ i} w(|S| − 1) v(S) − Σ_{S ∌ i} w(|S|) v(S),   w(s) = s! (n − s − 1)! / n!.

Used up to :data:`MAX_EXACT_PLAYERS` players.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

MAX_EXACT_PLAYERS = 16  # 65,536 coalitions


def coalition_masks(codes: torch.Tensor, players: int) -> torch.Tensor:
    """(N, players) boolean masks of the coalitions numbered ``codes`` (bit p = player p)."""
    bits = torch.arange(players, dtype=torch.int32)
    return (codes.to(torch.int32)[:, None] >> bits) & 1 == 1


def all_values(
    values: Callable[[torch.Tensor], torch.Tensor],
    players: int,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """v of all 2ⁿ coalitions, float64, indexed by their code."""
    masks = coalition_masks(torch.arange(1 << players), players)
    parts = []
    for start in range(0, len(masks), batch_size):
        batch = masks[start : start + batch_size]
        parts.append(values(batch))
        if progress is not None:
            progress(len(batch))
    return torch.cat(parts)


def shapley_from_values(v: torch.Tensor) -> torch.Tensor:
    """φ (n,) from the 2ⁿ coalition values ``v`` (float64, indexed by code)."""
    players = len(v).bit_length() - 1
    masks = coalition_masks(torch.arange(len(v)), players)
    sizes = masks.sum(1)
    w = torch.tensor(
        [
            math.factorial(s) * math.factorial(players - s - 1) / math.factorial(players)
            for s in range(players)
        ]
        + [0.0],  # w(n) never applies: no coalition of size n lacks a player
        dtype=torch.float64,
    )
    joined = w[(sizes - 1).clamp(min=0)] * v  # S ∋ i: weight w(|S| − 1)
    left_out = w[sizes] * v  # S ∌ i: weight w(|S|)
    member = masks.to(torch.float64)
    return member.T @ joined - (1 - member).T @ left_out
