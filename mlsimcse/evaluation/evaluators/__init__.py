"""Metrics computed from embeddings alone — no models, no files — so each can be checked on fixed vectors."""
