"""Adapters to the libraries users already have: a pytorch-grad-cam drop-in."""
