"""Adversarial tests (issue 13): each reproduces an attack or misuse that once succeeded."""
