"""Item pipelines: extraction in worker processes, then batched storage with near-duplicate links."""
