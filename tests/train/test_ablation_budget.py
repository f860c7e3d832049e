"""spsr_lib.train.ablation_budget: the pilot's rule for the ablation's budget (docs/ABLATION.md "Sizing the budget")."""

from __future__ import annotations

from spsr_lib.train.ablation_budget import FACTOR, MIN_STEPS, branch_trains_at, loss_fell, suggest_budget

URBAN = "Urban100 (026–035), centred 192-px crops"


def _checkpoints(branch: list[float], bicubic: float = 0.050, every: int = 50) -> list[dict]:
    return [{"step": i * every, "sets": {URBAN: {"branch_grad_l1": b, "bicubic_grad_l1": bicubic}}}
            for i, b in enumerate(branch)]


def _curve(values: list[float], every: int = 10) -> dict:
    return {"step": [every * (i + 1) for i in range(len(values))], "l_branch_pixel": values}


def test_loss_fell_compares_the_first_and_last_windows():
    steps = list(range(10, 310, 10))
    falling = [0.05 - 0.0005 * i for i in range(30)]
    assert loss_fell(steps, falling, 300)
    assert not loss_fell(steps, [0.05] * 30, 300)  # flat: the branch's loss did not fall
    assert not loss_fell(steps, falling, 40)  # too few values up to step 40 for two windows


def test_the_branch_trains_at_the_first_checkpoint_meeting_both_conditions():
    curve = _curve([0.05 - 0.0005 * i for i in range(30)])  # steps 10..300, falling
    # 2 % closer to M(HR) than M(bicubic) (branch L1 <= 0.049) first at step 150
    cps = _checkpoints([0.050, 0.0499, 0.0495, 0.0485, 0.047, 0.046, 0.045])
    assert branch_trains_at(cps, curve, URBAN) == 150
    assert branch_trains_at(cps, _curve([0.05] * 30), URBAN) is None  # closer, but its loss is flat
    assert branch_trains_at(_checkpoints([0.050] * 7), curve, URBAN) is None  # loss falls, map no closer
    assert branch_trains_at(cps, curve, "Set5") is None  # the rule reads the Urban100 set only


def test_suggest_budget_scales_rounds_caps_and_says_why():
    curve = _curve([0.05 - 0.0005 * i for i in range(30)])
    cps = _checkpoints([0.050, 0.0499, 0.0495, 0.0485, 0.047, 0.046, 0.045])
    b = suggest_budget(cps, curve, URBAN, 300, seconds_per_step=1.2, eval_seconds_per_pair=1800)
    assert b["reached"] and b["branch_trains_at"] == 150
    assert b["steps"] == max(MIN_STEPS, FACTOR * 150) and "trains at step 150" in b["why"]
    assert b["wall_hours"] == round(18 * (b["steps"] * 1.2 + 1800) / 2 / 3600, 1)
    late = _checkpoints([0.050] * 6 + [0.045], every=500)
    b = suggest_budget(late, _curve([0.05 - 0.00005 * i for i in range(300)]), URBAN, 3000, 1.2, 1800)
    assert b["steps"] == 9000 and b["wall_hours"] > 30
    capped = suggest_budget(late, _curve([0.05 - 0.00005 * i for i in range(300)]), URBAN, 3000, 1.2, 1800,
                            max_hours=12)
    assert capped["steps"] < 9000 and capped["wall_hours"] <= 12 and "capped" in capped["why"]
    never = suggest_budget(_checkpoints([0.050] * 7), curve, URBAN, 300, 1.2, 1800)
    assert not never["reached"] and never["branch_trains_at"] is None
    assert never["steps"] == MIN_STEPS and "did NOT train" in never["why"] and "guess" in never["why"]
