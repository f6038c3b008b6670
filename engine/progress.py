"""Console progress for the CLI: plan-level lines, and a bar while prompts are evaluated."""

from __future__ import annotations

import sys

from tqdm import tqdm


class ConsoleProgress:
    """Callable given to the pipeline: strings are printed, ProgressEvents drive a bar."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # looked up now, so a captured stderr is honoured
        self.bar = None
        self.stage = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close()
        return False

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __call__(self, event) -> None:
        if isinstance(event, str) or hasattr(event, "message"):
            if getattr(event, "state", None) == "stage":
                return  # the bar and the plan lines say enough on a terminal
            self._close()
            print(getattr(event, "message", event), file=self.stream, flush=True)
            return
        if self.bar is None or self.stage != event.stage or self.bar.total != event.total:
            self._close()
            self.stage = event.stage
            self.bar = tqdm(total=event.total, desc=f"  {event.stage}", unit="prompt", file=self.stream,
                            leave=False, dynamic_ncols=True)
        self.bar.update(event.done - self.bar.n)
        if event.done >= event.total:
            self._close()
