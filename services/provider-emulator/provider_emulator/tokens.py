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
    """The assistant text, split into the pieces a stream sends, one token each."""

    pieces: tuple[str, ...]
    truncated: bool  # cut at max_tokens: stop_reason "max_tokens" / finish_reason "length"

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def output_tokens(self) -> int:
        return len(self.pieces)


def full_answer_text(model: str, last_user_text: str) -> str:
    """The untruncated answer: the same request always gets the same text.

    It names the model (so a test sees which deployment answered), echoes the start of the
    last user message without fault markers (so a test sees its own prompt arrived) and
    ends with a pangram, so even a one-word prompt yields enough chunks for stream faults.
    """
    words = strip_markers(last_user_text).split()[:ECHO_WORDS]
    said = f" You said: {' '.join(words)}" if words else ""
    return f"Emulated reply from {model}.{said} {PANGRAM}"


def make_answer(model: str, last_user_text: str, max_tokens: int | None) -> Answer:
    """The answer, cut to ``max_tokens`` tokens when a limit is given."""
    pieces = _PIECE_PATTERN.findall(full_answer_text(model, last_user_text).strip())
    truncated = max_tokens is not None and len(pieces) > max_tokens
    if max_tokens is not None:
        pieces = pieces[:max_tokens]
    return Answer(pieces=tuple(pieces), truncated=truncated)
