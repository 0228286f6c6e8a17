"""Short import paths for the drop-ins of :mod:`faithcam.interop.compat`."""
