"""I/O tier: images, annotations, model sources, the pretrained zoo, figures and reports."""
