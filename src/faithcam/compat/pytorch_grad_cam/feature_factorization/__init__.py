"""pytorch-grad-cam's ``feature_factorization``: Deep Feature Factorization."""

from faithcam.compat.pytorch_grad_cam.feature_factorization.deep_feature_factorization import (
    DeepFeatureFactorization,
    dff,
    run_dff_on_image,
)

__all__ = ["DeepFeatureFactorization", "dff", "run_dff_on_image"]
