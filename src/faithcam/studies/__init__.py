"""Studies tier: streamed, resumable, sharded dataset runs and their result store."""

from faithcam.studies.study import ResultStore, run_study

__all__ = ["ResultStore", "run_study"]
