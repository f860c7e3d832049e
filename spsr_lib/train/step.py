"""One training iteration of each stage, in the official order (``SPSR_REFERENCE.md`` §5.3).

Stage "psnr" (ESRGAN's ``RRDB_PSNR`` pre-train): ``L = w * pixel(G(LR), HR)`` (L1 by default).

Stage "spsr" (``SPSRModel.optimize_parameters``), for step ``s`` (starting at 1):

1. D and D_grad frozen; the branch pre-train phase (§5.5) sets which G groups train at this step.
2. G forward -> ``(sr, grad_sr)``; ``M2(SR)``, ``M2(HR)`` (padding 2) and ``M1(HR)`` (padding 1).
3. if ``s % d_update_ratio == 0 and s > d_init_iters``: the six weighted terms of Eq. 9 (D is called on
   SR first, then on HR, as two train-mode forwards), backward, Adam_G step.
4. D: ``RaGAN_D(D(HR), D(SR.detach()))``, backward, Adam_D step.  5. the same for D_grad on ``M2`` maps.
6. every scheduler steps once.

Kit options off by default (not in the paper): ``loss.artifact_map`` adds LDL's artifact term to step 3 (with
``train.ema`` one extra no-grad forward of the EMA generator refines the map); ``train.d_pause`` skips the
backward and update of step 4 or 5 when that D's loss in the previous step was below the threshold.

Implementation notes. D and D_grad only see the *detached* SR of the same pre-update forward and G's
backward leaves no gradient on the frozen Ds, so all three backwards run first and the three optimiser
steps follow: the numbers are those of the official sequence, and the NaN/Inf check of every term
(one device sync, shared across ranks) happens before any weight changes. Terms with weight 0 are
skipped, and their networks (perceptual VGG, D, D_grad) are never built. Each stage is ``*_backward`` (no
host sync) + the finite check + ``*_update``, so :mod:`spsr_lib.train.graph_step` can record both halves in one
CUDA graph and check the values after the replay.
Shared discriminator forwards (``runtime.share_d_forward``, on by default; issue 29). D is not updated between
G's term and its own loss, so the official four forwards per discriminator (G step: D(SR), D(HR); D step:
D(HR), D(SR.detach())) compute two pairs of identical logits. When G updates, D's weights require grad during
G's forwards, D's loss is taken from those logits and backpropagated with ``inputs=`` D's weights only
(``retain_graph``), then G's total with ``inputs=`` G's trainable weights only: every gradient is the one of
the official sequence (bit-identical on CPU, ``tests/train/test_train_step_fast.py``). Differences: train-mode
BatchNorm updates its running statistics twice per iteration instead of four times (D and D_grad never run in
eval mode, so no output changes; ``num_batches_tracked`` counts 2 per step), and G's graph lives until the last
backward. Not shared (the four forwards stay): spectral norm (one power iteration per forward, so sharing would
change the weights D sees), ``runtime.cuda_graphs`` (the four-forward step is the one checked under capture)
and iterations without a G update.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils import parametrize

from spsr_lib.errors import SPSRError
from spsr_lib.losses import (
    artifact_map_loss,
    gan_discriminator_loss,
    gan_generator_loss,
    low_frequency_loss,
    pixel_loss,
)
from spsr_lib.losses_phase import phase_energy_loss
from spsr_lib.ops.gradient import gradient_map
from spsr_lib.train.distributed import average_gradients
from spsr_lib.train.trainer_view import TrainerView


def set_requires_grad(module: torch.nn.Module | None, flag: bool) -> None:
    if module is not None:
        for p in module.parameters():
            p.requires_grad_(flag)


def apply_branch_pretrain(tr: TrainerView, step: int) -> None:
    """§5.5: for ``step < branch_pretrain.steps`` only the listed parameter groups of G train."""
    phase = step_plan(tr, step)[0]
    if phase is None or phase == tr.g_phase:
        return
    trainable = set(tr.cfg.train.branch_pretrain.train.split("+")) if phase == "pretrain" else None
    for name, params in tr.G.parameter_groups().items():
        for p in params:
            p.requires_grad_(trainable is None or name in trainable)
    tr.g_phase = phase


def _check_finite(tr: TrainerView, terms: dict[str, Tensor]) -> dict[str, float]:
    """Average the terms over ranks (one sync); stop with a clear message on NaN/Inf."""
    names = list(terms)
    values = torch.stack([terms[k].detach().float().reshape(()) for k in names])
    if tr.dist.enabled:
        import torch.distributed as dist

        dist.all_reduce(values)
        values = values / tr.dist.world_size
    host = values.cpu().tolist()
    bad = [(k, v) for k, v in zip(names, host) if not torch.isfinite(torch.tensor(v))]
    if bad:
        from spsr_lib.train.state import latest_state

        name, value = bad[0]
        last = latest_state(tr.run_dir)
        raise SPSRError(
            f"loss term '{name}' is {value} at step {tr.step}: training stopped before the update; the last good "
            f"checkpoint {last if last else '(none written yet)'} is intact; lower train.lr_g/lr_d or check the data"
        )
    return dict(zip(names, host))


def _optimise(tr: TrainerView, loss: Tensor, optimizer, inputs: list[Tensor] | None = None,
              retain: bool = False) -> None:
    """Clear ``optimizer``'s gradients and backpropagate ``loss`` (scaled); with ``inputs`` the gradients
    accumulate into those tensors only (the shared-D step, below), with ``retain`` the graph stays for a later
    backward."""
    optimizer.zero_grad(set_to_none=True)
    tr.scaler.scale(loss).backward(inputs=inputs, retain_graph=retain)


def step_plan(tr: TrainerView, step: int) -> tuple[str | None, bool]:
    """``(branch phase, update_g)`` of iteration ``step``: what makes two iterations run different kernels."""
    bp, cfg = tr.cfg.train.branch_pretrain, tr.cfg
    phase = None if cfg.stage != "spsr" or bp.steps <= 0 else ("pretrain" if step < bp.steps else "full")
    update_g = cfg.stage == "psnr" or (step % cfg.train.d_update_ratio == 0 and step > cfg.train.d_init_iters)
    return phase, update_g


def psnr_backward(tr: TrainerView, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
    """Forward and backward of stage 1; the terms stay on the device (no sync)."""
    pix = tr.cfg.loss.pixel
    with tr.autocast():
        sr = tr.G_forward(lr)
    terms = {"l_pixel": pix.weight * pixel_loss(sr.float(), hr, pix.kind)}
    _optimise(tr, terms["l_pixel"], tr.opt_G)
    return terms


def psnr_update(tr: TrainerView) -> None:
    average_gradients(tr.G.parameters(), tr.dist)
    tr.scaler.step(tr.opt_G)
    tr.scaler.update()


def psnr_step(tr: TrainerView, lr: Tensor, hr: Tensor) -> dict[str, float]:
    terms = psnr_backward(tr, lr, hr)
    values = _check_finite(tr, terms)
    psnr_update(tr)
    tr.after_g_update()
    return values


def _artifact_term(tr: TrainerView, lr: Tensor, sr: Tensor, hr: Tensor) -> Tensor:
    """LDL's artifact loss on SR; the map is refined by the EMA generator's output when ``train.ema`` is on."""
    sr_ema = None
    if tr.ema is not None:
        with torch.no_grad():
            sr_ema = tr.ema.module(lr).sr.float()
    return artifact_map_loss(sr, hr, sr_ema, tr.cfg.loss.artifact_map.window)


def shares_d_forward(tr: TrainerView, net: torch.nn.Module | None, update_g: bool) -> bool:
    """Whether ``net``'s two forwards of this iteration serve both G's and its own loss (``runtime.share_d_forward``).

    Not with spectral norm (each train-mode forward runs one power iteration: sharing would halve them and
    change the weights D sees), not under ``runtime.cuda_graphs`` (the four-forward step is the one verified
    under capture), and only when G updates (otherwise D's two forwards are all there is).
    """
    rt = tr.cfg.runtime
    return (net is not None and update_g and rt.share_d_forward and not rt.cuda_graphs
            and not any(parametrize.is_parametrized(m) for m in net.modules()))


def spsr_backward(tr: TrainerView, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
    """Steps 1-5 up to the three backwards; the terms stay on the device (no sync)."""
    w = tr.cfg.loss
    apply_branch_pretrain(tr, tr.step)
    update_g = step_plan(tr, tr.step)[1]
    shared = {tag for tag, net in (("d", tr.D), ("d_grad", tr.D_grad)) if shares_d_forward(tr, net, update_g)}
    logits: dict[str, tuple[Tensor, Tensor]] = {}  # tag -> (real, fake) of the G step, kept for D's loss
    set_requires_grad(tr.D, "d" in shared and not tr.d_pause.paused("d"))
    set_requires_grad(tr.D_grad, "d_grad" in shared and not tr.d_pause.paused("d_grad"))

    terms: dict[str, Tensor] = {}
    with tr.autocast(), torch.set_grad_enabled(update_g):
        out = tr.G_forward(lr)
        sr = out.sr.float()
        need_m2 = w.gradient_pixel.weight > 0 or tr.D_grad is not None
        sr_m2 = gradient_map(sr, padding=2) if need_m2 else None
        with torch.no_grad():
            hr_m2 = gradient_map(hr, padding=2) if need_m2 else None
            hr_m1 = gradient_map(hr, padding=1) if w.branch_pixel.weight > 0 else None
        if update_g:
            if w.pixel.weight > 0:
                terms["l_pixel"] = w.pixel.weight * pixel_loss(sr, hr, w.pixel.kind)
            if w.low_frequency.weight > 0:
                terms["l_low_frequency"] = w.low_frequency.weight * low_frequency_loss(
                    sr, hr, w.low_frequency.factor)
            if w.artifact_map.weight > 0:
                terms["l_artifact"] = w.artifact_map.weight * _artifact_term(tr, lr, sr, hr)
            if w.phase_energy.weight > 0:
                terms["l_phase"] = w.phase_energy.weight * phase_energy_loss(sr, hr, w.phase_energy.period)
            if tr.perceptual is not None:
                terms["l_perceptual"] = w.perceptual.weight * tr.perceptual(sr, hr)
            if tr.D is not None:
                fake = tr.D(tr.to_model_layout(sr)).float()
                real = tr.D(tr.to_model_layout(hr)).float()
                terms["l_gan"] = w.gan.weight * gan_generator_loss(fake, real, w.gan.kind)
                logits["d"] = (real, fake)
            if w.gradient_pixel.weight > 0:
                terms["l_gradient_pixel"] = w.gradient_pixel.weight * torch.nn.functional.mse_loss(sr_m2, hr_m2)
            if tr.D_grad is not None:
                fake = tr.D_grad(tr.to_model_layout(sr_m2)).float()
                real = tr.D_grad(tr.to_model_layout(hr_m2)).float()
                terms["l_gradient_gan"] = w.gradient_gan.weight * gan_generator_loss(fake, real, w.gradient_gan.kind)
                logits["d_grad"] = (real, fake)
            if w.branch_pixel.weight > 0:
                terms["l_branch_pixel"] = w.branch_pixel.weight * torch.nn.functional.l1_loss(
                    out.grad_sr.float(), hr_m1)
    if update_g and terms:
        terms["l_g_total"] = sum(terms.values())
        if not shared:
            _optimise(tr, terms["l_g_total"], tr.opt_G)

    d_pairs = [("d", tr.D, tr.opt_D, sr, hr, w.gan.kind), ("d_grad", tr.D_grad, tr.opt_D_grad, sr_m2, hr_m2,
                                                              w.gradient_gan.kind)]
    for tag, net, opt, fake_in, real_in, kind in d_pairs:
        if net is None:
            continue
        paused = tr.d_pause.paused(tag)  # train.d_pause: the loss is still computed, without backward
        if tag in shared:  # the G step's forwards; D's loss reaches D's weights only (below), never G
            real, fake = logits[tag]
            terms[f"l_{tag}"] = gan_discriminator_loss(real, fake, kind)
        else:
            set_requires_grad(net, not paused)
            with tr.autocast(), torch.set_grad_enabled(not paused):
                real = net(tr.to_model_layout(real_in)).float()
                fake = net(tr.to_model_layout(fake_in.detach())).float()
                terms[f"l_{tag}"] = gan_discriminator_loss(real, fake, kind)
        terms[f"{tag}_real"] = real.detach().mean()  # official logs D_real / D_fake (mean logits)
        terms[f"{tag}_fake"] = fake.detach().mean()
        if paused:
            opt.zero_grad(set_to_none=True)  # nothing of the last update lingers
        elif tag in shared:  # the graph stays for G's backward, which runs last and frees it
            _optimise(tr, terms[f"l_{tag}"], opt, inputs=list(net.parameters()), retain=True)
        else:
            _optimise(tr, terms[f"l_{tag}"], opt)
    if shared and "l_g_total" in terms:  # G's loss reaches G's weights only, not the Ds that saw SR
        _optimise(tr, terms["l_g_total"], tr.opt_G, inputs=[p for p in tr.G.parameters() if p.requires_grad])
    return terms


def spsr_update(tr: TrainerView, terms: dict[str, Tensor]) -> None:
    """The three optimiser steps (G only when it took a backward this iteration)."""
    if "l_g_total" in terms:
        average_gradients(tr.G.parameters(), tr.dist)
        tr.scaler.step(tr.opt_G)
    for tag, net, opt in (("d", tr.D, tr.opt_D), ("d_grad", tr.D_grad, tr.opt_D_grad)):
        if net is not None and not tr.d_pause.paused(tag):
            average_gradients(net.parameters(), tr.dist)
            tr.scaler.step(opt)
    tr.scaler.update()


def spsr_step(tr: TrainerView, lr: Tensor, hr: Tensor) -> dict[str, float]:
    terms = spsr_backward(tr, lr, hr)
    values = _check_finite(tr, terms)
    spsr_update(tr, terms)
    values.update(tr.d_pause.record(values))
    if step_plan(tr, tr.step)[1]:
        tr.after_g_update()
    return values
