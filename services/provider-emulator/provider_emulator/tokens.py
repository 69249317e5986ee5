"""The one tokenizer both emulated APIs count with, and the deterministic answer text.

Real providers use BPE tokenizers we cannot (and need not) reproduce. What tests need is a
rule they can recompute themselves, so a "token" here is a run of word characters or a
single other non-space character: ``re.findall(r"\\w+|[^\\w\\s]", text)``.
"""

import re
from dataclasses import dataclass

from provider_emulator.faults import strip_markers

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
# One streamed piece = one token plus the whitespace before it, so joining the pieces gives
# the answer text back exactly and every streamed content chunk is exactly one token.
_PIECE_PATTERN = re.compile(r"\s*(?:\w+|[^\w\s])")

PANGRAM = "The quick brown fox jumps over the lazy dog."
# Bounds the echo so a long prompt does not produce a long answer.
ECHO_WORDS = 24


def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` by the emulator's documented rule."""
    return len(TOKEN_PATTERN.findall(text))


@dataclass(frozen=True)
class Answer:
    """What the emulator answers, split into the pieces a stream sends, one token each: the
    assistant text, or (when ``tool_name`` is set) the JSON arguments of a call of that tool."""

    pieces: tuple[str, ...]
    truncated: bool  # cut at max_tokens: stop_reason "max_tokens" / finish_reason "length"
    tool_name: str | None = None

    @property
    def text(self) -> str:
        """The answer text, or the tool call's arguments as JSON text."""
        return "".join(self.pieces)

    @property
    def output_tokens(self) -> int:
        """The pieces' tokens, plus the tool name's for a tool call."""
        return len(self.pieces) + (count_tokens(self.tool_name) if self.tool_name else 0)


def echo(text: str) -> str:
    """The start of ``text`` that answers repeat: at most ECHO_WORDS words, no fault markers."""
    return " ".join(strip_markers(text).split()[:ECHO_WORDS])


def full_answer_text(model: str, last_user_text: str) -> str:
    """The untruncated text answer: the same request always gets the same text.

    It names the model (so a test sees which deployment answered), echoes the start of the
    last user message without fault markers (so a test sees its own prompt arrived) and
    ends with a pangram, so even a one-word prompt yields enough chunks for stream faults.
    """
    words = echo(last_user_text)
    said = f" You said: {words}" if words else ""
    return f"Emulated reply from {model}.{said} {PANGRAM}"


def make_answer(text: str, max_tokens: int | None, tool_name: str | None = None) -> Answer:
    """``text`` as an answer, cut to ``max_tokens`` tokens when a limit is given; a tool
    call's name counts first, its arguments get what is left."""
    pieces = _PIECE_PATTERN.findall(text.strip())
    budget = max_tokens
    if budget is not None and tool_name is not None:
        budget = max(budget - count_tokens(tool_name), 0)
    truncated = budget is not None and len(pieces) > budget
    if budget is not None:
        pieces = pieces[:budget]
    return Answer(pieces=tuple(pieces), truncated=truncated, tool_name=tool_name)
