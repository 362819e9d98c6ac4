"""A job's state in one line, and :meth:`client.Client.train`'s progress display."""

from __future__ import annotations

import sys


class ProgressLine:
    """:meth:`Client.train`'s default progress display: one line on stderr, redrawn in
    place on a terminal, a line per status change elsewhere."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.status = None
        self.drawn = False

    def __call__(self, job: dict) -> None:
        text = describe(job)
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            self.drawn = True
        elif job["status"] != self.status:
            self.stream.write(text + "\n")
        self.status = job["status"]
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def describe(job: dict) -> str:
    """``job 3f2a... running: epoch 12/100 loss 0.4100 val_loss 0.4400 accuracy 0.830``"""
    text = f"job {job['id']} {job['status']}"
    progress = job.get("progress") or {}
    if progress.get("epoch"):
        text += f": epoch {progress['epoch']}/{progress.get('epochs', '?')}"
        for key in ("loss", "val_loss"):
            if progress.get(key) is not None:
                text += f" {key} {progress[key]:.4f}"
        for key, value in (progress.get("metrics") or {}).items():
            if isinstance(value, int | float):
                text += f" {key} {value:.3f}"
    return text
