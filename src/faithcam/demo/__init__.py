"""``faithcam demo``: real ImageNet CNNs on real photographs, a vision transformer and the
bundled ShapesBench models, every method, faithfulness scores and an HTML report.

:mod:`~faithcam.demo.run` runs the whole demo (and the README's seed-methods figure),
:mod:`~faithcam.demo.settings` chooses the methods and their options,
:mod:`~faithcam.demo.shapes` and :mod:`~faithcam.demo.transformer` are its two extra sections.
"""
