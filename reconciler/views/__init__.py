"""Output: plans, apply results and problems as text, markdown and JSON; saved plans."""
