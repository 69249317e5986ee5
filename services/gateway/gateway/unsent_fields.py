"""The request fields a model's provider never gets: LiteLLM drops them (`drop_params`), so
the gateway names them in `x-gateway-dropped-fields` and the log, or refuses them for a
client that asks for that (`reject_unsent_fields` in the clients file).

The table is LiteLLM's own, for the locked version, generated into unsent_fields.json by
`python -m gateway.unsent_fields_table` (which says how); a test checks it against LiteLLM.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("unsent_fields.json")


class UnsentFields:
    """model alias -> API name -> the fields its provider does not get."""

    def __init__(self, table: Mapping[str, Mapping[str, Iterable[str]]]) -> None:
        self._table = {
            (model, api): frozenset(fields)
            for model, apis in table.items()
            for api, fields in apis.items()
        }

    @classmethod
    def load(cls, path: Path = TABLE_PATH) -> UnsentFields:
        models = json.loads(path.read_text())["models"]
        return cls({
            model: {api: entry[api] for api in ("chat.completions", "messages")}
            for model, entry in models.items()
        })  # fmt: skip

    def of(self, model: str, api: str, fields: Iterable[str]) -> tuple[str, ...]:
        """Which of `fields` the provider behind `model` does not get through `api`."""
        unsent = self._table.get((model, api))
        if not unsent:
            return ()
        return tuple(sorted(unsent.intersection(fields)))
