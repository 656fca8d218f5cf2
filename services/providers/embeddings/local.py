"""The offline embedder: WordLlama's l2_supercat static embeddings (256 dims, MIT licence).

The weights (16 MB) and the Llama-2 tokenizer it was trained on ship inside the `wordllama`
wheel, so nothing is downloaded at run time. `WordLlama.load()` would still try to fetch the
tokenizer (0.4.0 looks for it under `tokenizer/`, the wheel ships it under `tokenizers/`),
so the two files are opened here directly. Embedding is a table lookup plus mean pooling:
~20k short texts/s on one core, CPU-bound, so calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.providers import errors
from services.providers.types import EmbeddingResult, Usage

MODEL = "wordllama-l2-256"
DIMENSION = 256
_CONFIG = "l2_supercat"


def _root() -> Path:
    import wordllama

    return Path(wordllama.__file__).parent


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(_root() / "tokenizers" / f"{_CONFIG}_tokenizer_config.json"))


@lru_cache(maxsize=1)
def _model() -> Any:
    from safetensors import safe_open
    from wordllama.inference import WordLlamaInference

    with safe_open(str(_root() / "weights" / f"{_CONFIG}_{DIMENSION}.safetensors"),
                   framework="np", device="cpu") as f:
        weights = f.get_tensor("embedding.weight")
    return WordLlamaInference(weights, _tokenizer(), binary=False)


def token_lengths() -> Callable[[list[str]], list[int]]:
    """Counts tokens of many strings at once with the Llama-2 tokenizer (the chunker's ruler)."""
    tokenizer = _tokenizer()

    def lengths(texts: list[str]) -> list[int]:
        return [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]

    return lengths


def embed_sync(texts: list[str]) -> list[list[float]]:
    """L2-normalised vectors, so cosine similarity is a dot product."""
    if not texts:
        return []
    vectors = _model().embed(texts, norm=True)
    return [list(map(float, v)) for v in vectors]


class LocalEmbedder:
    """A provider-shaped adapter (`embed` only) for the offline model; no credential."""

    name = "local"
    models = (MODEL,)

    def load(self) -> None:
        """Load the weights now (~0.2 s) instead of on the first request."""
        _model()

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult:
        if model not in self.models:
            raise errors.unsupported(self.name, f"embedding model {model!r}")
        vectors = await asyncio.to_thread(embed_sync, inputs)
        tokens = sum(token_lengths()(inputs)) if inputs else 0
        return EmbeddingResult(vectors=vectors, usage=Usage(input_tokens=tokens),
                               provider=self.name, model=model)
