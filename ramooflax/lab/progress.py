"""Progress lines on stderr (stdout is kept for command output)."""

import sys


def say(tag: str, message: str) -> None:
    """Print `[tag] message` to stderr at once."""
    print(f"[{tag}] {message}", file=sys.stderr, flush=True)
