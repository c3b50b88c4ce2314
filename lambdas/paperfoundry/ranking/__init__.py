"""Ranking v1: explainable scores from community signals and TF-IDF relevance."""

from .score import DayContext, build_context, score_paper

__all__ = ["DayContext", "build_context", "score_paper"]
