"""A figure from repeated runs: its median and its spread (the lowest and highest run).

With three to five runs a median and a min-max range say more than a mean and a standard
deviation would: one stall of the shared machine moves a mean and not a median, and the
range shows that it happened."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def spread(values: Iterable[float], digits: int = 3) -> dict[str, Any]:
    """{median, min, max, n} of the runs' values."""
    ordered = sorted(values)
    return {
        "median": round(median(ordered), digits),
        "min": round(ordered[0], digits),
        "max": round(ordered[-1], digits),
        "n": len(ordered),
    }


def same_sign(values: Iterable[float]) -> int:
    """1 if every value is positive, -1 if every one is negative, else 0."""
    ordered = list(values)
    if ordered and all(v > 0 for v in ordered):
        return 1
    if ordered and all(v < 0 for v in ordered):
        return -1
    return 0


def describe(figure: Mapping[str, Any], fmt: str = "{:.2f}") -> str:
    """'18.40 (17.90-19.10, 3 runs)', or the one value for a single run."""
    if figure["n"] == 1:
        return fmt.format(figure["median"])
    low, high = fmt.format(figure["min"]), fmt.format(figure["max"])
    return f"{fmt.format(figure['median'])} ({low} to {high}, {figure['n']} runs)"
