"""The chunk store port: vectors + text of every chunk, searchable by vector and keyword."""
