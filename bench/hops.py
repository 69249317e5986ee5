"""The benchmark's targets by name, and the process groups (bench/cpu.py) each CPU figure
counts. Standard library only: `python -m bench.capacity` and the manifests tests import
the figures without the load generator's dependencies."""

from __future__ import annotations

# The proxies compared with the direct call at a fixed rate, and the direct call itself.
HOPS = ("nginx", "python", "gateway")
TARGETS = ("direct", *HOPS)
# Through LiteLLM: the direct call, LiteLLM alone, and the production path gateway -> LiteLLM.
LITELLM_TARGETS = ("direct", "litellm", "chain")

# Each hop's own process group, measured alone at the fixed rate (the target it serves).
ALONE_GROUPS = {"nginx": "nginx", "python": "python-passthrough", "gateway": "gateway-direct",
                "emulator": "provider-emulator"}  # fmt: skip
ALONE_TARGETS = {"nginx": "nginx", "python": "python", "gateway": "gateway", "emulator": "direct"}
# What the platform runs for a call (the emulator and the Langfuse receiver stand in for
# the providers and Langfuse, which are not the platform's to size).
CHAIN_GROUPS = ("gateway", "redis", "litellm")
