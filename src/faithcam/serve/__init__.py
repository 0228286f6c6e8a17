"""``faithcam serve``: a local web page that compares CAM methods on one image, with their
faithfulness numbers beside the maps.

FastAPI routes (:mod:`faithcam.serve.app`) over a model catalogue
(:mod:`faithcam.serve.catalogue`), checked uploads (:mod:`faithcam.serve.uploads`) and
background jobs (:mod:`faithcam.serve.jobs`); the page itself is package data under
``static/``. Needs the ``serve`` extra: ``pip install "faithcam[serve]"``.
"""

from faithcam.serve.app import create_app
from faithcam.serve.catalogue import Catalogue, default_catalogue

__all__ = ["Catalogue", "create_app", "default_catalogue"]
