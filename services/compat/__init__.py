"""Wire-compatible front doors: the OpenAI Chat Completions API over bridges and models."""
