"""A job's history, followed from answer to answer without reading it whole each time.

``GET /jobs/<id>?since=N`` answers each per-epoch series of the history from epoch N + 1
on, and says so (``history.first_epoch``); :class:`FollowedHistory` keeps the epochs read
so far, asks for the next ones and puts them after those it holds.
"""

from __future__ import annotations


def _series(key: str, value) -> bool:
    # the per-epoch series are the history's lists (the diagnostics' per layer); the rest
    # (best_epoch, stop_reason, lr_finder) is the job's as a whole
    return key != "diagnostics" and isinstance(value, list)


def _joined(held: dict, part: dict) -> dict:
    """``part`` with each of its series after ``held``'s."""
    return {k: [*(held.get(k) or ()), *v] if _series(k, v) else v for k, v in part.items()}


def append(held: dict, part: dict) -> dict:
    """``held`` (a history up to epoch ``part["first_epoch"] - 1``) followed by ``part``
    (an answer's history from epoch ``first_epoch`` on); the job-level values are
    ``part``'s, and neither argument is changed."""
    out = _joined(held, {k: v for k, v in part.items() if k != "first_epoch"})
    if "diagnostics" in part:
        layers = held.get("diagnostics") or []
        out["diagnostics"] = [
            _joined(layers[i] if i < len(layers) else {}, layer)
            for i, layer in enumerate(part["diagnostics"])
        ]
    return out


def epochs_in(history: dict) -> int:
    """Epochs a history holds: the length of its longest series."""
    return max((len(v) for k, v in history.items() if _series(k, v)), default=0)


class FollowedHistory:
    """The history of one job as a follower has read it so far.

    Ask with ``since=`` :attr:`epochs`, then :meth:`take` the answer.
    """

    def __init__(self):
        self.history: dict = {}
        #: the attempt whose epochs are held: another one trains from the first epoch
        self.attempts: int | None = None

    @property
    def epochs(self) -> int:
        return epochs_in(self.history)

    def take(self, job: dict) -> bool:
        """Add the epochs of ``job`` (an answer to ``since=`` :attr:`epochs`) to those held
        and give ``job`` the whole history; False, holding nothing any more, when another
        attempt has started the job over (ask again from 0)."""
        if self.epochs and job.get("attempts") != self.attempts:
            self.history, self.attempts = {}, None
            return False
        self.history = append(self.history, job.get("history") or {})
        self.attempts = job.get("attempts")
        if "history" in job:
            job["history"] = self.history
        return True
