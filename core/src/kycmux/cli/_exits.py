"""Exit statuses of the command line: one table, so no code means two things.

``verify`` gives each outcome its own status so a script can act on it; ``compare`` keeps
3 and 4 for a study that is incomplete or has an unusable system. 1 is an
interrupted or failed run, 2 a usage or configuration error (click's own).
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["EXIT_TABLE", "VERIFY_EXIT", "exit_help", "verify_exit"]

VERIFY_EXIT = MappingProxyType(
    {"accept": 0, "reject": 10, "retry_capture": 11, "review": 12, "error": 13}
)
"""``verify``'s exit status by decision outcome."""

EXIT_TABLE = MappingProxyType(
    {
        0: "success (verify: accept)",
        1: "the run failed or was interrupted (the command's help says when)",
        2: "usage or configuration error: nothing was sent",
        3: "compare: the study is incomplete (run again to finish)",
        4: "compare: some system is unusable (too many errors)",
        5: "records --verify: the chain is broken (a record edited, deleted, reordered, "
        "unreadable, or the anchor missing)",
        10: "verify: reject",
        11: "verify: retry_capture",
        12: "verify: review",
        13: "verify: error",
    }
)
"""Every exit status any ``kycmux`` command uses, and what it means."""


def verify_exit(outcome: str) -> int:
    """``verify``'s exit status for a decision ``outcome``."""
    return VERIFY_EXIT[outcome]


def exit_help(*codes: int) -> str:
    """The exit statuses ``codes`` as a ``--help`` paragraph (kept as written by click)."""
    lines = [f"  {code:>2}  {EXIT_TABLE[code]}" for code in codes]
    return "\b\nExit status:\n" + "\n".join(lines)
