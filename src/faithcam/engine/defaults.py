"""Defaults shared by the API and the CLI, defined once (cheap to import: the CLI's parser
shows them without loading the library).

``BATCH_SIZE``: inputs per forward pass (sample rows in :func:`faithcam.explain`, perturbed
images in the metrics, images per batch of a study and of the CLI). One number everywhere: the
metrics used 64 and ``explain`` 16; on CPU, deletion at 64 took about 0.9x the time of 16 (the
medians of ``benchmarks/bench_metric_batch.py``, on a loaded 2-core machine) for 1.6-2.1x the
peak memory: not reason enough for two defaults (docs/metrics.md has the numbers).

``CURVE_STEPS``: the steps of the deletion and insertion curves
(:func:`faithcam.metrics.deletion`, ``faithcam evaluate --curve-steps``). The Python API used
100 and the CLI 20 (issue 26: deletion 0.2024 from Python, 0.2296 from the CLI, same photos);
100 is kept, the closer to RISE (224 pixels per step of a 224 x 224 image: 224 steps).
"""

BATCH_SIZE = 16
CURVE_STEPS = 100
