"""LLM review of the day's top candidates: reviewer samples, a pairwise tournament, and
the combined score that keeps the signals part of the core ranking."""
