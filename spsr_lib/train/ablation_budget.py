"""Sizing the ablation's budget from a pilot: train until the gradient branch demonstrably trains, then some.

The paper's ablation (Ma et al., CVPR 2020, Sec. 4.4) compares fully trained models. On a CPU budget the question
"does the gradient branch help?" only has an answer once the branch has learnt something, so the budget is sized
from a pilot of (b), (c), (d) (``scripts/ablation_pilot.py``, one seed, evaluated every few dozen steps). The rule
(:func:`suggest_budget`, written out in docs/ABLATION.md "Sizing the budget"):

1. the branch *trains* at the first pilot checkpoint where both hold:
   - its raw ``grad_sr`` is closer to M(HR) than M(bicubic) is, by at least :data:`BRANCH_MARGIN` (relative) on the
     pilot's Urban100 (026–075) set: ``branch_grad_l1 <= (1 - margin) * bicubic_grad_l1``
     (:mod:`spsr_lib.metrics.branch`; with ``residual: bicubic`` and the identity init the two start equal);
   - its own loss ``l_branch_pixel`` has fallen: the mean of the last :data:`WINDOW` of the logged values up to
     that step is at least :data:`LOSS_DROP` below the mean of the first :data:`WINDOW`;
2. the budget is :data:`FACTOR` times that step (the fusion must then learn to use the branch, and the comparison
   is of end states, so most of the run should come after it), rounded up to :data:`ROUND` steps, at least
   :data:`MIN_STEPS`, and at most what ``max_hours`` of wall time allows for the whole run;
3. when the pilot never reaches step 1 the rule says so and proposes :data:`FACTOR` x the pilot's length as a
   *guess*, flagged ``reached: false`` (a longer pilot, or a change to the recipe, is then the honest next step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

BRANCH_MARGIN = 0.02  # grad_sr at least 2 % closer to M(HR) than M(bicubic)
LOSS_DROP = 0.10  # l_branch_pixel down by at least 10 %
WINDOW = 0.2  # fraction of the logged values that makes a window (at least 3 values)
FACTOR = 3
ROUND = 250
MIN_STEPS = 1000


def loss_fell(steps: Sequence[int], values: Sequence[float | None], upto: int, drop: float = LOSS_DROP) -> bool:
    """True when the mean of the last window of ``values`` logged at or before ``upto`` is ``drop`` below the
    mean of the first window (windows of :data:`WINDOW` of the values, at least 3)."""
    vals = [v for s, v in zip(steps, values) if s <= upto and v is not None]
    n = max(3, int(len(vals) * WINDOW))
    if len(vals) < 2 * n:
        return False
    first, last = sum(vals[:n]) / n, sum(vals[-n:]) / n
    return last <= (1.0 - drop) * first


def branch_trains_at(checkpoints: Sequence[Mapping], curve: Mapping[str, Sequence], set_name: str,
                     margin: float = BRANCH_MARGIN) -> int | None:
    """The first checkpoint step at which the branch trains (rule 1), or None.

    ``checkpoints``: ``[{"step": s, "sets": {set: {metric: value}}}]`` of (d), in step order; ``curve``: (d)'s
    loss curves ``{"step": [...], "l_branch_pixel": [...]}``."""
    for c in checkpoints:
        m = c["sets"].get(set_name, {})
        closer = ("branch_grad_l1" in m and "bicubic_grad_l1" in m
                  and m["branch_grad_l1"] <= (1.0 - margin) * m["bicubic_grad_l1"])
        if c["step"] > 0 and closer and loss_fell(curve.get("step", []), curve.get("l_branch_pixel", []), c["step"]):
            return int(c["step"])
    return None


def suggest_budget(checkpoints: Sequence[Mapping], curve: Mapping[str, Sequence], set_name: str, pilot_steps: int,
                   seconds_per_step: float, eval_seconds_per_pair: float, pairs: int = 18, jobs: int = 2,
                   max_hours: float = 48.0) -> dict:
    """The budget rule (module docstring): ``{"steps", "reached", "branch_trains_at", "why", "wall_hours"}``."""
    at = branch_trains_at(checkpoints, curve, set_name)
    raw = FACTOR * (at if at is not None else pilot_steps)
    steps = max(MIN_STEPS, int(math.ceil(raw / ROUND) * ROUND))
    per_pair = lambda s: s * seconds_per_step + eval_seconds_per_pair  # noqa: E731
    cap = int((max_hours * 3600 * jobs / pairs - eval_seconds_per_pair) / max(seconds_per_step, 1e-9))
    capped = steps > cap
    steps = max(ROUND, min(steps, cap // ROUND * ROUND)) if capped else steps
    if at is not None:
        why = (f"the branch trains at step {at} of the pilot ({set_name}: grad_sr at least {BRANCH_MARGIN:.0%} closer "
               f"to M(HR) than M(bicubic), l_branch_pixel down at least {LOSS_DROP:.0%}); {FACTOR} x {at}")
    else:
        why = (f"the branch did NOT train within the pilot's {pilot_steps} steps by the rule; {FACTOR} x the pilot's "
               "length is a guess: run a longer pilot or change the recipe before trusting it")
    if capped:
        why += f"; capped at {steps} steps by max_hours={max_hours:g} for {pairs} pairs on {jobs} jobs"
    return {"steps": steps, "reached": at is not None, "branch_trains_at": at, "why": why,
            "wall_hours": round(pairs * per_pair(steps) / jobs / 3600, 1), "seconds_per_step": seconds_per_step,
            "eval_seconds_per_pair": eval_seconds_per_pair, "pairs": pairs, "jobs": jobs}
