"""Options shared by every benchmark."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    repeats: int = 3  # each figure is min/median/max over this many runs
    seconds: float = 8.0  # length of one timed load run
    quick: bool = False  # shorter runs for a smoke test; figures are then indicative only

    def log(self, message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    def command(self, name: str) -> str:
        """The command line that reproduces a section with the same options."""
        parts = ["python -m bench", name]
        if self.repeats != Context.repeats:
            parts.append(f"--repeats {self.repeats}")
        if self.seconds != Context.seconds:
            parts.append(f"--seconds {self.seconds:g}")
        if self.quick:
            parts.append("--quick")
        return " ".join(parts)
