"""Pause a discriminator that is far ahead (``train.d_pause.threshold``; not in the paper, issue 24).

On a small budget D wins within a few hundred steps (l_d ~ 1e-5 in the ablation curves); from then on its
gradient to G says little beyond "this is fake". The rule: at step ``s`` D's optimiser step is skipped when
D's loss at step ``s - 1`` was below the threshold; D_grad is judged by its own loss (``l_d_grad``). A paused
D still computes its loss (without backward), so the rule sees when G has caught up and D trains again.
``threshold: 0`` (the default) never pauses. The counts of paused steps are logged as ``d_paused`` and
``d_grad_paused`` and saved in the training checkpoint with the last losses, so a resume decides the same.
"""

from __future__ import annotations

TAGS = ("d", "d_grad")


class DPause:
    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = float(threshold)
        self.last: dict[str, float | None] = {t: None for t in TAGS}  # the previous step's l_d / l_d_grad
        self.paused_steps: dict[str, int] = {t: 0 for t in TAGS}

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def paused(self, tag: str) -> bool:
        """Whether ``tag``'s (``d`` or ``d_grad``) update is skipped in the current step."""
        last = self.last[tag]
        return self.enabled and last is not None and last < self.threshold

    def record(self, values: dict[str, float]) -> dict[str, float]:
        """After a step: count the paused updates, keep its D losses; returns the counters to log."""
        if not self.enabled:
            return {}
        out = {}
        for tag in TAGS:
            if f"l_{tag}" not in values:
                continue
            self.paused_steps[tag] += int(self.paused(tag))
            self.last[tag] = values[f"l_{tag}"]
            out[f"{tag}_paused"] = float(self.paused_steps[tag])
        return out

    def state_dict(self) -> dict:
        return {"threshold": self.threshold, "last": dict(self.last), "paused_steps": dict(self.paused_steps)}

    def load_state_dict(self, state: dict) -> None:
        self.last.update(state.get("last", {}))
        self.paused_steps.update(state.get("paused_steps", {}))
