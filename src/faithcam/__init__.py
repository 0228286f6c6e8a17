"""faithcam."""
