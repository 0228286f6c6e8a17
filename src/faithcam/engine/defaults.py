"""Defaults shared by the API and the CLI, defined once (cheap to import: the CLI's parser
shows them without loading the library).

``BATCH_SIZE``: inputs per forward pass (sample rows in :func:`faithcam.explain`, perturbed
images in the metrics, images per batch of a study and of the CLI). One number everywhere: the
metrics used 64 and ``explain`` 16; on CPU the metrics run as fast at 16
(``benchmarks/bench_metric_batch.py``) with a quarter of the peak memory.

``CURVE_STEPS``: the steps of the deletion and insertion curves
(:func:`faithcam.metrics.deletion`, ``faithcam evaluate --curve-steps``). The Python API used
100 and the CLI 20; 100 is kept (RISE removes 224 pixels per step of a 224 x 224 image, 224
steps; 20 steps moved one deletion AUC from 0.2024 to 0.2296 in issue 26's measurement).
"""

BATCH_SIZE = 16
CURVE_STEPS = 100
