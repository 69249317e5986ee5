"""The benchmark's targets by name, and the process groups (bench/cpu.py) each CPU figure
counts. Standard library only: `python -m bench.capacity` and the manifests tests import
the figures without the load generator's dependencies."""

from __future__ import annotations

# The proxies compared with the direct call at a fixed rate, and the direct call itself.
HOPS = ("nginx", "python", "gateway")
TARGETS = ("direct", *HOPS)
# At LiteLLM's rate: the direct call, the gateway alone (its CPU per request at this rate,
# beside its figure in the chain: per request it costs more at 20/s than at 200/s, with
# fewer events to share each wake-up of its loop), LiteLLM alone, and the production path.
LITELLM_TARGETS = ("direct", "gateway", "litellm", "chain")

# Each hop's own process group, measured alone at the fixed rate (the target it serves).
ALONE_GROUPS = {"nginx": "nginx", "python": "python-passthrough", "gateway": "gateway-direct",
                "emulator": "provider-emulator"}  # fmt: skip
ALONE_TARGETS = {"nginx": "nginx", "python": "python", "gateway": "gateway", "emulator": "direct"}
# What the platform runs for a call (the emulator and the Langfuse receiver stand in for
# the providers and Langfuse, which are not the platform's to size).
CHAIN_GROUPS = ("gateway", "redis", "litellm")
