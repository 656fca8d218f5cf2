"""Embeddings for ingestion, search and the /embeddings endpoints: one service over every
provider's `embed` plus the offline `local` model, with batching, retries and a cache."""
