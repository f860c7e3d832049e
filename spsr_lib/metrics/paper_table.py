"""The SPSR paper's published x4 results (Ma et al., CVPR 2020, Table 1), as data with their source.

Users of the kit have no copy of the paper beside it, so notebooks, the ablation document and the model card
read the published rows from here to put them beside the kit's own numbers. Source: the official repository
(Maclory/SPSR) README, "Quantitative Results", which reproduces the paper's Table 1. PI and LPIPS: lower is
better; PSNR/SSIM in the SPSR/PIRM MATLAB protocol (Y channel, ``ssim.m`` with automatic downsampling), the
kit's ``mode="spsr"``. Those models trained for about 5x10^5 iterations on DIV2K (days on GPUs); the kit's
small CPU-trained models are not expected to match them, and every place that shows both says so.

    paper_table1()["SPSR"]["Urban100"]  ->  {"pi": 3.5511, "lpips": 0.1184, "psnr": 24.799, "ssim": 0.9481}
"""

from __future__ import annotations

SOURCE = ("Ma et al., Structure-Preserving Super Resolution with Gradient Guidance, CVPR 2020, Table 1 "
          "(x4), as listed in the official repository's README (Maclory/SPSR, 'Quantitative Results')")
SETS = ("Set5", "Set14", "BSD100", "General100", "Urban100")
NOTE = ("the paper's Urban100 is all 100 images; the kit evaluates Urban100 (026–075), 50 of them, so the "
        "two columns are not the same set")

# method -> per set (PI, LPIPS) then (PSNR, SSIM), in the order of SETS
_PI_LPIPS = {
    "Bicubic": ((7.3699, 0.3407), (7.0268, 0.4393), (7.0026, 0.5249), (7.9365, 0.3528), (6.9435, 0.4726)),
    "SFTGAN": ((3.7587, 0.0890), (2.9063, 0.1481), (2.3774, 0.1769), (4.2878, 0.1030), (3.6136, 0.1433)),
    "SRGAN": ((3.9820, 0.0882), (3.0851, 0.1663), (2.5459, 0.1980), (4.3757, 0.1055), (3.6980, 0.1551)),
    "ESRGAN": ((3.7522, 0.0748), (2.9261, 0.1329), (2.4793, 0.1614), (4.3234, 0.0879), (3.7704, 0.1229)),
    "NatSR": ((4.1648, 0.0939), (3.1094, 0.1758), (2.7801, 0.2114), (4.6262, 0.1117), (3.6523, 0.1500)),
    "SPSR": ((3.2743, 0.0644), (2.9036, 0.1318), (2.3510, 0.1611), (4.0991, 0.0863), (3.5511, 0.1184)),
}
_PSNR_SSIM = {
    "Bicubic": ((28.420, 0.8245), (26.100, 0.7850), (25.961, 0.6675), (28.018, 0.8282), (23.145, 0.9011)),
    "SFTGAN": ((29.932, 0.8665), (26.223, 0.7854), (25.505, 0.6549), (29.026, 0.8508), (24.013, 0.9364)),
    "SRGAN": ((29.168, 0.8613), (26.171, 0.7841), (25.459, 0.6485), (28.575, 0.8541), (24.397, 0.9381)),
    "ESRGAN": ((30.454, 0.8677), (26.276, 0.7783), (25.317, 0.6506), (29.412, 0.8546), (24.360, 0.9453)),
    "NatSR": ((30.991, 0.8800), (27.514, 0.8140), (26.445, 0.6831), (30.346, 0.8721), (25.464, 0.9505)),
    "SPSR": ((30.400, 0.8627), (26.640, 0.7930), (25.505, 0.6576), (29.414, 0.8537), (24.799, 0.9481)),
}


def paper_table1() -> dict[str, dict[str, dict[str, float]]]:
    """``{method: {set: {"pi", "lpips", "psnr", "ssim"}}}`` for the six methods of the paper's Table 1 (a copy)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for method, pl in _PI_LPIPS.items():
        ps = _PSNR_SSIM[method]
        out[method] = {s: {"pi": pl[i][0], "lpips": pl[i][1], "psnr": ps[i][0], "ssim": ps[i][1]}
                       for i, s in enumerate(SETS)}
    return out
