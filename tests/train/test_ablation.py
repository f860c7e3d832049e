"""The loss-ablation variants (spsr_lib.train.ablation): same start, loss overrides, branchless models, and
``Trainer(generator=...)`` training them."""

from __future__ import annotations

import json

import pytest
import torch

from spsr_lib.errors import ConfigError
from spsr_lib.models.guidance import GradientGuidedSR, SRResNet
from spsr_lib.models.rrdb import RRDBNet
from spsr_lib.models.spsr_net import SPSRNet, SPSROutput
from spsr_lib.ops.gradient import gradient_map
from spsr_lib.train.ablation import (
    BY_NAME,
    TERMS,
    VARIANTS,
    Backbones,
    BranchlessRRDB,
    BranchlessSRResNet,
    build_generator,
    generator_factory,
    same_start,
)
from spsr_lib.train.config import load_config
from spsr_lib.train.trainer import Trainer
from tests.train.conftest import tiny

ARCH = Backbones(rrdb=(8, 2, 4), srresnet=(8, 2))
# the second edition's RRDBNet family: the structure lineage's bicubic residual, (d) with the recipe's fusion init
RESIDUAL = Backbones(rrdb=(8, 2, 4), srresnet=(8, 2), residual="bicubic", fusion_init="identity_branch")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _stage1(backbone: str, seed: int = 3, arch: Backbones = ARCH) -> torch.nn.Module:
    """A stage-1 network with weights far from the 0.1-scaled init (negative features, visible residuals)."""
    torch.manual_seed(seed)
    net = arch.stage1(backbone)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.1)
    return net.eval()


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_the_six_variants():
    assert [v.name for v in VARIANTS] == ["l1", "esrgan", "grad_loss", "spsr", "srresnet_esrgan", "srresnet_guided"]
    assert BY_NAME["spsr"] is VARIANTS[3] and len(BY_NAME) == 6
    assert [v.label[:3] for v in VARIANTS] == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)"]
    assert {v.name for v in VARIANTS if v.branch} == {"spsr", "srresnet_guided"}


GENERATOR_TYPES = {"l1": RRDBNet, "esrgan": BranchlessRRDB, "grad_loss": BranchlessRRDB, "spsr": SPSRNet,
                   "srresnet_esrgan": BranchlessSRResNet, "srresnet_guided": GradientGuidedSR}


@pytest.mark.parametrize("arch", [ARCH, RESIDUAL], ids=["plain", "residual"])
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_every_variant_starts_from_the_same_image(variant, arch):
    stage1 = _stage1(variant.backbone, arch=arch)
    before = _snapshot(stage1)
    lr = torch.rand(2, 3, 7, 9)
    gap = same_start(variant, stage1, arch, lr)
    # identity_branch reads the branch through 0.1-scaled random weights, yet the fusion's zeroed dense blocks
    # and the head's symmetric +/- channels keep it within float rounding here too (measured: 3e-4 grey levels
    # on the real structure stage 1, Set5 baby)
    assert 0 <= gap < 1e-5
    assert all(torch.equal(v, before[k]) for k, v in stage1.state_dict().items())  # stage1 is not modified
    g = build_generator(variant, stage1, arch)
    if variant.backbone == "rrdb":
        assert g.residual == arch.residual
    assert type(g) is GENERATOR_TYPES[variant.name]
    with torch.no_grad():
        out = g.eval()(lr)
        ref = stage1(lr)
    assert isinstance(out, SPSROutput) == (variant.stage == "spsr")
    sr = out.sr if isinstance(out, SPSROutput) else out
    assert sr.shape == ref.shape == (2, 3, 28, 36) and ref.abs().max() > 0.1
    if variant.branch:  # the gradient branch is a fresh (random) network, not a copy of anything
        assert out.grad_sr.abs().max() > 0
        assert (out.grad_sr - gradient_map(sr, padding=1)).abs().max() > 1e-3


def test_a_stage1_with_another_residual_is_refused():
    """The weights of a bicubic-residual stage 1 mean another image without the residual: refuse, never guess."""
    with pytest.raises(ValueError, match="residual=bicubic"):
        build_generator(BY_NAME["esrgan"], _stage1("rrdb", arch=RESIDUAL), ARCH)


def test_same_start_sees_a_different_start():
    """The check can fail: a generator from another stage-1 network does not start from this one's image."""
    lr = torch.rand(1, 3, 6, 6)
    for v in (BY_NAME["esrgan"], BY_NAME["srresnet_guided"]):
        g = build_generator(v, _stage1(v.backbone, seed=4), ARCH).eval()
        with torch.no_grad():
            assert (g(lr).sr - _stage1(v.backbone, seed=3)(lr)).abs().max() > 1e-3


@pytest.mark.parametrize("name,expected", [
    ("l1", dict(pixel=1.0)),
    ("esrgan", dict(pixel=1e-2, perceptual=1.0, gan=5e-3)),
    ("grad_loss", dict(pixel=1e-2, perceptual=1.0, gan=5e-3, gradient_pixel=1e-2, gradient_gan=5e-3)),
    ("spsr", dict(pixel=1e-2, perceptual=1.0, gan=5e-3, gradient_pixel=1e-2, gradient_gan=5e-3, branch_pixel=0.5)),
    ("srresnet_esrgan", dict(pixel=1e-2, perceptual=1.0, gan=5e-3)),
    ("srresnet_guided", dict(pixel=1e-2, perceptual=1.0, gan=5e-3, gradient_pixel=1e-2, gradient_gan=5e-3,
                             branch_pixel=0.5)),
])
def test_variant_overrides_switch_off_what_the_variant_lacks(name, expected):
    v = BY_NAME[name]
    # the config's defaults are full SPSR; start from other weights too: every term is set by the variant
    noisy = [f"loss.{t}.weight=0.123" for t in TERMS]
    for start in ([], noisy):
        cfg = load_config(None, [*start, *v.overrides()])
        assert cfg.stage == ("psnr" if name == "l1" else "spsr")
        weights = {t: getattr(cfg.loss, t).weight for t in TERMS}
        assert weights == {t: pytest.approx(expected.get(t, 0.0)) for t in TERMS}, name


def test_branchless_models_keep_the_plain_keys_and_answer_like_spsr():
    pairs = [(BranchlessRRDB(3, 3, 8, 2, 4, 4), RRDBNet(3, 3, 8, 2, 4, 4)),
             (BranchlessSRResNet(3, 3, 8, 2, 4), SRResNet(3, 3, 8, 2, 4))]
    lr = torch.rand(1, 3, 6, 7)
    for branchless, plain in pairs:
        assert list(branchless.state_dict()) == list(plain.state_dict())
        plain.load_state_dict(branchless.state_dict())  # strict both ways
        branchless.load_state_dict(plain.state_dict())
        with torch.no_grad():
            out, ref = branchless(lr), plain(lr)
        assert isinstance(out, SPSROutput)
        torch.testing.assert_close(out.sr, ref, rtol=0, atol=0)
        torch.testing.assert_close(out.grad_sr, gradient_map(ref, padding=1), rtol=0, atol=0)
        torch.testing.assert_close(out.grad_lr, gradient_map(lr, padding=1), rtol=0, atol=0)
        groups = branchless.parameter_groups()
        assert groups["gradient_branch"] == groups["fusion"] == []
        assert [id(p) for p in groups["sr_branch"]] == [id(p) for p in branchless.parameters()]


# ------------------------------------------------------------------------------------ Trainer(generator=...)
def _variant_cfg(tmp_path, image_folder, variant, *extra):
    # the variant's weights, minus the VGG perceptual term (no VGG download in a unit test)
    return load_config(None, tiny(tmp_path, image_folder, *variant.overrides(), "loss.perceptual.weight=0",
                                  "train.niter=2", *extra))


@pytest.mark.parametrize("name", ["esrgan", "srresnet_guided"])
def test_trainer_trains_a_given_generator_two_steps(tmp_path, image_folder, name):
    v = BY_NAME[name]
    stage1 = _stage1(v.backbone)
    cfg = _variant_cfg(tmp_path, image_folder, v)
    tr = Trainer(cfg, generator=generator_factory(v, stage1, ARCH))
    assert type(tr.G) is GENERATOR_TYPES[name]
    assert "built and initialised by the caller" in tr.init_note
    start = _snapshot(tr.G)
    batch = next(iter(tr.loader))
    with torch.no_grad():  # the Trainer keeps the generator's weights: it starts as stage 1
        assert (tr.G(batch["lr"]).sr - stage1(batch["lr"])).abs().max() < 1e-5
    tr.fit()
    tr.close()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    last = records[-1]
    assert last["l_gan"] > 0 and "l_d" in last and "l_perceptual" not in last
    assert ("l_branch_pixel" in last) == v.branch and ("l_gradient_pixel" in last) == v.branch
    moved = [k for k, t in tr.G.state_dict().items() if not torch.equal(t, start[k])]
    assert any(k.startswith(("conv_first", "backbone.conv_first")) for k in moved)  # the SR network trained
    if v.branch:
        assert any(k.startswith("fusion.") for k in moved) and any(k.startswith("grad_branch.") for k in moved)
    assert (tmp_path / "models" / "G_latest.safetensors").is_file()


def test_trainer_calls_the_generator_after_seeding(tmp_path):
    seen = []

    def factory():
        seen.append(torch.rand(()).item())
        return BranchlessSRResNet(3, 3, 8, 2, 4)

    for run in ("a", "b"):
        torch.manual_seed(len(seen) + 100)  # whatever the caller's RNG state, the config's seed decides
        cfg = load_config(None, tiny(tmp_path / run, tmp_path, "seed=7"))
        Trainer(cfg, build_data=False, generator=factory).close()
    assert len(seen) == 2 and seen[0] == seen[1]


def test_trainer_refuses_a_generator_and_train_pretrained(tmp_path, image_folder):
    cfg = _variant_cfg(tmp_path, image_folder, BY_NAME["esrgan"], f"train.pretrained={tmp_path / 'g.safetensors'}")
    with pytest.raises(ConfigError, match="train.pretrained.*generator"):
        Trainer(cfg, generator=generator_factory(BY_NAME["esrgan"], _stage1("rrdb"), ARCH))


def test_branchless_rrdb_files_load_as_rrdbnet(tmp_path):
    """A (b)/(c) generator saved by the Trainer is an RRDBNet file: load_sr_model / spsr evaluate read it."""
    from spsr_lib.io.checkpoint import load_sr_model, save_generator
    from spsr_lib.train.ablation import BranchlessRRDB

    torch.manual_seed(0)
    model = BranchlessRRDB(3, 3, 8, 2, 4, 4)
    save_generator(model, tmp_path / "g.safetensors")
    loaded = load_sr_model(tmp_path / "g.safetensors")
    assert type(loaded) is RRDBNet
    lr = torch.rand(1, 3, 8, 8)
    assert torch.equal(loaded(lr), model(lr).sr)
