"""The remote side: the Holistics API client and what a plan reads through it."""
