"""The store's refusals: each message is one sentence for a person."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A request the store refuses; the message is one sentence for a person."""


class RatingError(StoreError):
    """A rating that is refused (bad score, wrong session, wrong clip, ...)."""


class StudyFullError(StoreError):
    """Every stimulus already has its target number of votes."""
