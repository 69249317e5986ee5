"""The emulator's tool arguments and structured answers conform to the schema they come from.

Pydantic is the judge: a model's own JSON schema goes in, the value that comes out must
validate against the model (so $defs, enums, nested objects, lists, optional and bounded
fields are all exercised the way real callers' schemas use them).
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import pytest
from provider_emulator.schema_values import value_for
from pydantic import BaseModel, Field


class Unit(StrEnum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Place(BaseModel):
    city: str
    country_code: Annotated[str, Field(min_length=2, max_length=2)]


class Forecast(BaseModel):
    place: Place
    unit: Unit
    days: Annotated[int, Field(ge=3, le=10)]
    ratio: Annotated[float, Field(gt=0, lt=1)]
    tags: Annotated[list[str], Field(min_length=2)]
    when: datetime.date
    kind: Literal["daily"]
    alerts: bool
    note: str | None = None  # not required: left out
    stops: list[Place] = []


def test_a_pydantic_models_schema_yields_a_valid_instance() -> None:
    value = value_for(Forecast.model_json_schema())
    forecast = Forecast.model_validate(value)
    assert forecast.place.city == "emulated city"
    assert forecast.unit is Unit.CELSIUS  # the first enum value
    assert forecast.days == 3  # 1, moved into the bounds
    assert 0 < forecast.ratio < 1
    assert len(forecast.tags) == 2  # minItems
    assert forecast.kind == "daily"
    assert set(value) == {"place", "unit", "days", "ratio", "tags", "when", "kind", "alerts"}


def test_the_value_is_the_same_every_time() -> None:
    schema = Forecast.model_json_schema()
    assert value_for(schema) == value_for(schema)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "object", "properties": {}}, {}),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, {}),  # a is optional
        (
            {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            {"q": "emulated q"},
        ),
        ({"type": "string", "format": "email"}, "emulated@example.com"),
        ({"type": "string", "maxLength": 3}, "emu"),
        ({"type": ["null", "integer"]}, 1),
        ({"type": "integer", "maximum": -5}, -5),
        ({"type": "integer", "exclusiveMaximum": 0}, -1),
        ({"type": "number"}, 1.5),
        ({"type": "array", "items": {"type": "boolean"}, "maxItems": 0}, []),
        (
            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
            [1, "emulated value"],
        ),
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, 1),
        ({"const": 7}, 7),
        (
            {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
                ]
            },
            {"a": 1, "b": True},
        ),
        ({"$ref": "#/$defs/missing"}, "emulated value"),  # unresolvable: any value
        ({}, "emulated value"),
    ],
)
def test_each_rule(schema: dict[str, Any], expected: Any) -> None:
    assert value_for(schema) == expected


def test_a_schema_that_requires_itself_ends() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"next": {"$ref": "#/$defs/Node"}},
                "required": ["next"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    value = value_for(schema)
    depth = 0
    while isinstance(value, dict):
        value, depth = value["next"], depth + 1
    assert value is None
    assert depth > 10
