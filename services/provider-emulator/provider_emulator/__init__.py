"""Provider emulator: a test stand-in for Anthropic's Messages API and Groq's chat completions.

It answers deterministically, counts tokens honestly and injects faults on request, so the
LiteLLM proxy and our gateway can be tested on loopback with no internet and no paid keys.
It is a test stand-in: its control endpoints have no authentication, so it must never be
reachable from outside a test machine or a throwaway test cluster.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
