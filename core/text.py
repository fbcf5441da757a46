"""Small text helpers every part uses for its messages."""

from __future__ import annotations

import difflib


def suggest(value: str, choices: list[str]) -> str:
    """Return a ``did you mean`` hint for a near miss, or an empty string."""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
