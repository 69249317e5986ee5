"""The deployment's own tooling: pinned versions, environments, the secrets inventory, and the
offline checks of everything that is deployed (charts, values, policies, secrets)."""
