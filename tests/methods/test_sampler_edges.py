"""Edge cases of the samplers, per-image streams and quasi-random tolerance (issue 28)."""
