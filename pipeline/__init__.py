"""The Dagger pipeline: build the images, stand the platform up in a throwaway k3s cluster,
deploy and verify it (`invoke ci`, `dagger run python -m pipeline`).

Only `containers.py`, `run.py` and `dagger_cli.py` (the preflight's CLI check) import dagger.
The other modules are plain Python: `collect_diagnostics` runs inside the tools container,
and `engine_check` is standard library only, so it runs before dagger-io is imported.
"""
