"""Engine tier: layer capture (hooks, grad mode, cleanup), layer resolution, targets, results."""
