"""Explainable scores: fit to the group's profile papers (TF-IDF against a background
corpus, calibrated on the profile) and community signals."""

from .score import DayContext, build_context, score_paper

__all__ = ["DayContext", "build_context", "score_paper"]
