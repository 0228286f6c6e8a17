"""Shapley values estimated by permutation sampling (Castro, Gómez & Tejada, 2009), with
standard errors.

Each permutation π of the players gives every player its marginal contribution
v(π_{<k} ∪ {π_k}) − v(π_{<k}) (n + 1 coalition values per permutation; the contributions of one
permutation add up to v(N) − v(∅), so every estimate satisfies efficiency exactly). The
permutations come in independent *blocks*; the estimate is the mean over blocks and its standard
error the standard deviation of the block means over √(blocks):

- ``"antithetic"`` (default): a random permutation and its reverse (Mitchell et al., "Sampling
  permutations for Shapley value estimation", JMLR 2022: the reverse pairs a player's early and
  late positions, which cancels much of the variance of coalition size);
- ``"stratified"``: the n cyclic shifts of a random permutation, so that every player takes
  every position exactly once per block (coalition size stratified);
- ``"random"``: one i.i.d. permutation per block.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from faithcam.errors import FaithcamValueError

SAMPLERS = ("antithetic", "stratified", "random")


def block_size(sampler: str, players: int) -> int:
    """Permutations per independent block."""
    if sampler not in SAMPLERS:
        raise FaithcamValueError(
            f"sampler: expected one of {', '.join(repr(s) for s in SAMPLERS)}, got {sampler!r}"
        )
    return {"antithetic": 2, "stratified": players, "random": 1}[sampler]


def blocks_for(permutations: int, sampler: str, players: int) -> int:
    """Whole blocks covering at least ``permutations`` permutations, and at least two (a
    standard error needs two)."""
    size = block_size(sampler, players)
    return max(2, -(-permutations // size))


def draw_block(sampler: str, players: int, generator: torch.Generator) -> torch.Tensor:
    """The (block size, players) permutations of one block."""
    base = torch.randperm(players, generator=generator)
    if sampler == "antithetic":
        return torch.stack([base, base.flip(0)])
    if sampler == "stratified":
        shifts = torch.arange(players)[:, None] + torch.arange(players)[None]
        return base[shifts % players]
    return base[None]


def marginal_contributions(
    values: Callable[[torch.Tensor], torch.Tensor],
    permutations: torch.Tensor,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """(P, n) marginal contributions of every player under each of the (P, n) permutations."""
    count, players = permutations.shape
    position = torch.empty_like(permutations)  # position[p, player] = its place in π_p
    position.scatter_(1, permutations, torch.arange(players).expand(count, players).clone())
    rows = count * (players + 1)
    v = torch.empty(rows, dtype=torch.float64)
    for start in range(0, rows, batch_size):
        index = torch.arange(start, min(start + batch_size, rows))
        which, size = index // (players + 1), index % (players + 1)
        masks = position[which] < size[:, None]  # the first `size` players of π
        v[index] = values(masks)
        if progress is not None:
            progress(len(index))
    v = v.view(count, players + 1)
    gains = v[:, 1:] - v[:, :-1]  # gains[p, k]: contribution of π_p[k]
    return torch.zeros(count, players, dtype=torch.float64).scatter_(1, permutations, gains)


def sampled_shapley(
    values: Callable[[torch.Tensor], torch.Tensor],
    players: int,
    permutations: int,
    sampler: str,
    generator: torch.Generator,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(φ estimate, its standard error, permutations used), all float64 of shape (n,)."""
    blocks = blocks_for(permutations, sampler, players)
    drawn = torch.cat([draw_block(sampler, players, generator) for _ in range(blocks)])
    gains = marginal_contributions(values, drawn, batch_size, progress)
    block_means = gains.view(blocks, -1, players).mean(1)
    estimate = block_means.mean(0)
    stderr = block_means.std(0, correction=1) / blocks**0.5
    return estimate, stderr, len(drawn)
