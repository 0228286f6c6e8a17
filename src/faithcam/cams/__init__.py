"""CAM tier: gradient estimators, baselines, weightings, CAM, perturbation CAMs, the registry."""
