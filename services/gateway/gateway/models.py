"""The model objects of GET /v1/models and GET /v1/models/{model}, in one shape that both the
OpenAI SDK (`id`, `object`, `created`, `owned_by`) and the Anthropic SDK (`type`, `id`,
`display_name`, `created_at`; the list's `has_more`, `first_id`, `last_id`) read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

OWNER = "shared-ai-gateway"


def model_object(model: str) -> dict[str, Any]:
    return {
        "id": model, "object": "model", "created": 0, "owned_by": OWNER,
        "type": "model", "display_name": model, "created_at": "1970-01-01T00:00:00Z",
    }  # fmt: skip


def model_list(models: Sequence[str]) -> dict[str, Any]:
    return {
        "object": "list", "data": [model_object(model) for model in models],
        "has_more": False, "first_id": models[0] if models else None,
        "last_id": models[-1] if models else None,
    }  # fmt: skip
