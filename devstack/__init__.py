"""The local stack: real LiteLLM and Redis, and the test stand-ins, as processes on 127.0.0.1."""
