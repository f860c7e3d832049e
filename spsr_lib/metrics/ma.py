"""Ma et al.'s no-reference SR quality score (NRQM, CVIU 2017) and the PIRM Perceptual Index.

The SPSR paper ranks methods by PI = ((10 - Ma) + NIQE) / 2 (lower is better).  Ma's score is the
MATLAB ``quality_predict.m`` of https://github.com/chaoma99/sr-metric::

    [f1, f2, f3] = feature_all(im);              % DCT, GSM and SVD feature vectors of the Y image
    s_k = regRF_predict(f_k, model.rf{k});       % three regression forests (randomforest-matlab)
    score = [1 s1 s2 s3] * model.linear;         % a 4x1 linear layer

``model.mat`` holds forests trained on human scores: it cannot be recreated and is not shipped.  It is
found as the ``model`` argument, ``$SPSR_MA_MODEL`` or ``$SPSR_CACHE/ma/model.mat``; without it
:func:`ma_score` raises ``WeightsUnavailableError`` and tables print "n/a (model.mat not found: see
README)".  The forest evaluation (:func:`forest_predict`) is exact randomForest ``predict`` semantics
(go left when ``x[var] <= split``, average the leaves over trees); :func:`feature_all` follows below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from spsr_lib.errors import WeightsUnavailableError
from spsr_lib.metrics.color import ImageLike, as_batch255, rgb_to_y_uint8, shave

MODEL_URL = "https://github.com/chaoma99/sr-metric (model.mat)"
NA_REASON = "model.mat not found: see README"


@dataclass(frozen=True)
class Forest:
    """A randomforest-matlab regression forest: arrays are (nodes, trees), node indices 1-based, 0 = none."""

    left: np.ndarray  # lDau
    right: np.ndarray  # rDau
    split: np.ndarray  # upper (xbestsplit): go left when x[var] <= split
    value: np.ndarray  # avnode (nodepred)
    var: np.ndarray  # mbest (bestvar), 1-based feature index
    status: np.ndarray | None = None  # nodestatus: -1 marks a leaf; None -> a leaf has no daughters


def forest_predict(forest: Forest, x: np.ndarray) -> np.ndarray:
    """Mean over trees of the leaf value reached by each row of ``x`` (samples x features)."""
    x = np.atleast_2d(np.asarray(x, np.float64))
    n_nodes, n_trees = forest.left.shape
    trees = np.arange(n_trees)[None, :]
    node = np.zeros((len(x), n_trees), dtype=np.int64)  # 0-based current node per (sample, tree)
    rows = np.arange(len(x))[:, None]
    for _ in range(n_nodes):  # a path is never longer than the number of nodes
        leaf = (
            (forest.left[node, trees] == 0) if forest.status is None else (forest.status[node, trees] == -1)
        )
        if leaf.all():
            break
        var = forest.var[node, trees].astype(np.int64) - 1
        go_left = x[rows, np.clip(var, 0, x.shape[1] - 1)] <= forest.split[node, trees]
        nxt = np.where(go_left, forest.left[node, trees], forest.right[node, trees]).astype(np.int64) - 1
        node = np.where(leaf, node, nxt)
    return forest.value[node, trees].mean(axis=1)


@dataclass(frozen=True)
class MaModel:
    forests: tuple[Forest, Forest, Forest]
    linear: np.ndarray  # (4,)

    def predict(self, f1: np.ndarray, f2: np.ndarray, f3: np.ndarray) -> np.ndarray:
        s = [forest_predict(rf, f) for rf, f in zip(self.forests, (f1, f2, f3))]
        return np.stack([np.ones_like(s[0]), *s], axis=1) @ self.linear


def model_path(model: str | os.PathLike | None = None) -> Path:
    if model is not None:
        candidates = [Path(model)]
    else:
        env = os.environ.get("SPSR_MA_MODEL")
        root = os.environ.get("SPSR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "spsr-kit")
        candidates = ([Path(env)] if env else []) + [Path(root) / "ma" / "model.mat"]
    for c in candidates:
        if c.is_file():
            return c
    raise WeightsUnavailableError(
        f"{NA_REASON} (looked at {', '.join(map(str, candidates))}); get it from {MODEL_URL} and pass "
        f"model=PATH, set SPSR_MA_MODEL, or copy it to {candidates[-1]}"
    )


def _field(struct, name: str, position: int) -> np.ndarray:
    names = struct.dtype.names or ()
    value = struct[name] if name in names else struct[names[position]]
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.item()
    return np.asarray(value)


@lru_cache(maxsize=2)
def load_model(path: str) -> MaModel:
    """Read ``model.mat`` (``model.rf`` = 1x3 cell of regRF structs, ``model.linear`` = 4x1)."""
    from scipy.io import loadmat

    try:
        m = loadmat(path)["model"][0, 0]
        linear = np.asarray(m["linear"], np.float64).reshape(-1)
        forests = []
        for k in range(3):
            rf = m["rf"].reshape(-1)[k]
            rf = rf.reshape(-1)[0] if rf.dtype == object else rf
            rf = rf.reshape(-1)[0]
            status = _field(rf, "nodestatus", 2) if "nodestatus" in (rf.dtype.names or ()) else None
            forests.append(Forest(
                left=_field(rf, "lDau", 0).astype(np.int64), right=_field(rf, "rDau", 1).astype(np.int64),
                split=_field(rf, "upper", 4).astype(np.float64),
                value=_field(rf, "avnode", 5).astype(np.float64),
                var=_field(rf, "mbest", 6).astype(np.int64),
                status=None if status is None else status.astype(np.int64),
            ))  # fmt: skip
    except WeightsUnavailableError:
        raise
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{path}: not Ma et al.'s model.mat ({type(exc).__name__}: {exc})"
        ) from None
    if linear.shape != (4,):
        raise WeightsUnavailableError(f"{path}: model.linear must be 4x1, got {linear.shape}")
    return MaModel(tuple(forests), linear)


def _y_images(img: ImageLike, scale: int) -> tuple[np.ndarray, bool]:
    x, from_numpy = as_batch255(img, "image")
    return shave(rgb_to_y_uint8(x), scale).cpu().numpy()[:, 0], from_numpy


def ma_score(img: ImageLike, scale: int = 4, model: str | os.PathLike | None = None) -> float | torch.Tensor:
    """Ma et al.'s score of the uint8 Y channel, ``scale`` px shaved (higher is better, about 0..10)."""
    m = load_model(str(model_path(model)))
    ys, from_numpy = _y_images(img, scale)
    values = [float(m.predict(*feature_all(y))[0]) for y in ys]
    return values[0] if from_numpy else torch.tensor(values, dtype=torch.float64)


def perceptual_index(
    img: ImageLike, scale: int = 4, model: str | os.PathLike | None = None, niqe_params=None
) -> float | torch.Tensor:
    """PIRM's PI = ((10 - Ma) + NIQE) / 2 (lower is better); needs both model files."""
    from spsr_lib.metrics.niqe import niqe

    ma = ma_score(img, scale, model)
    return ((10 - ma) + niqe(img, scale, niqe_params)) / 2


def ma_status(model: str | os.PathLike | None = None) -> tuple[bool, str]:
    """``(available, path-or-reason)`` for table footnotes."""
    try:
        return True, str(model_path(model))
    except WeightsUnavailableError:
        return False, NA_REASON


# --------------------------------------------------------------------------------------- features
def feature_all(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``feature_all.m``: (DCT, GSM, SVD) feature vectors of one Y image (float 0..255)."""
    raise NotImplementedError("Ma feature extraction is not implemented yet")
