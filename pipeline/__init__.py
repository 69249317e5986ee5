"""The Dagger pipeline: build the images, stand the platform up in a throwaway k3s cluster,
deploy and verify it (`invoke ci`, `dagger run python -m pipeline`).

Only `containers.py` and `run.py` import dagger. The other modules are plain Python: some
run inside the pipeline's containers (`oci_archive`, `collect_diagnostics`), and
`engine_check` is imported by tasks.py, which runs where dagger-io is not installed.
"""
