"""What the SPSR paper states about each of its components (Ma et al., CVPR 2020, Sec. 3.2, 3.3 and 4.4), as data.

Users of the kit have no copy of the paper beside it, so the ablation's results file, its Markdown and notebook 03
read these statements from here, next to the paper's Table 1 rows (:mod:`spsr_lib.metrics.paper_table`), to say
where the kit's ablation agrees with the paper and where it does not.

Only the *direction* of each claim is recorded. The numbers of the paper's ablation table (Table 3) are not in the
kit's reference copy of the paper's data (``SPSR_REFERENCE.md`` §14 mirrors Table 1 only), so none are quoted
here; :data:`FIGURES_NOTE` says so wherever the statements are shown.

    COMPONENTS["gradient_branch"].claim  ->  "better perceptual quality and structure than (c) ..."
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = ("Ma et al., Structure-Preserving Super Resolution with Gradient Guidance, CVPR 2020: Sec. 3.2 (gradient "
          "branch), Sec. 3.3 (Eq. 9, gradient losses), Sec. 4.4 and Table 3 (ablation)")
FIGURES_NOTE = ("the paper's ablation figures (Table 3) are not in the kit's copy of the paper's data "
                "(SPSR_REFERENCE.md mirrors Table 1 only); only the direction of each claim is given")
# what the paper's models had that the kit's ablation has not (the reasons a difference may have)
PAPER_SETUP = ("RRDBNet with 23 blocks (nf 64) and the gradient branch, VGG19 perceptual loss, DIV2K, batch 30 of "
               "128-px patches, about 5 x 10^5 iterations on GPUs")


@dataclass(frozen=True)
class Component:
    """One part of SPSR, the ablation variants that isolate it, and what the paper says it does."""

    name: str
    variants: tuple[str, str]  # (without, with): the kit's ablation rows that differ by this component only
    section: str
    claim: str


COMPONENTS: dict[str, Component] = {
    "gan_losses": Component(
        "ESRGAN's perceptual and adversarial losses", ("l1", "esrgan"), "Sec. 4.1-4.2 (after ESRGAN)",
        "the PSNR-oriented stage gives blurry images; the perceptual and relativistic GAN losses trade PSNR for "
        "perceptual quality (lower PI and LPIPS)"),
    "gradient_losses": Component(
        "the gradient losses (gradient-map pixel loss and gradient-map GAN, Eq. 9 terms 4-5)",
        ("esrgan", "grad_loss"), "Sec. 3.3, Sec. 4.4",
        "supervising the SR image's gradient map against the HR image's gives sharper, less distorted structures "
        "and better perceptual scores than ESRGAN's losses alone"),
    "gradient_branch": Component(
        "the gradient branch and its loss (SPSRNet, Eq. 9 term 6)", ("grad_loss", "spsr"), "Sec. 3.2, Sec. 4.4",
        "the branch, which predicts the HR gradient map and hands its features to the SR branch through the "
        "fusion, improves perceptual quality and structure further; with both gradient parts SPSR is the best "
        "model of the ablation at a comparable PSNR"),
    "guidance_on_other_networks": Component(
        "the gradient branch on another SR network", ("srresnet_esrgan", "srresnet_guided"), "Sec. 3.2",
        "the gradient branch can be incorporated into other SR networks (the official code does not release "
        "such a model; the kit's GradientGuidedSR on SRResNet tests the remark)"),
}
