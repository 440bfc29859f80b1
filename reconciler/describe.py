"""Words for reviewers: cron expressions as sentences, sources by title."""

from __future__ import annotations

from functools import cache

from cron_descriptor import ExpressionDescriptor, Options


@cache
def cron_in_words(expression: str) -> str | None:
    """"0 8 * * 1" -> "At 08:00, only on Monday"; None when the expression cannot be described."""
    options = Options()
    options.use_24hour_time_format = True
    try:
        return str(ExpressionDescriptor(expression, options).get_description())
    except Exception:  # cron-descriptor raises several unrelated types on bad input
        return None
