"""Ma's score / PI machinery on a small synthetic forest (the real model.mat is not available here)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import spsr_lib.metrics as M
from spsr_lib.errors import WeightsUnavailableError
from spsr_lib.metrics.color import y_numpy

MA = importlib.import_module("spsr_lib.metrics.ma")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tree_arrays(trees: list[list[tuple]]) -> dict[str, np.ndarray]:
    """Nodes as (left, right, var, split, value) with 1-based daughters (0 = leaf) -> regRF arrays."""
    n = max(len(t) for t in trees)
    arr = {k: np.zeros((n, len(trees))) for k in ("lDau", "rDau", "nodestatus", "upper", "avnode", "mbest")}
    for j, tree in enumerate(trees):
        for i, (left, right, var, split, value) in enumerate(tree):
            arr["lDau"][i, j], arr["rDau"][i, j], arr["mbest"][i, j] = left, right, var
            arr["upper"][i, j], arr["avnode"][i, j] = split, value
            arr["nodestatus"][i, j] = -1 if left == 0 else 1
    return arr


def _walk(tree: list[tuple], x: np.ndarray) -> float:
    """Reference: follow one tree node by node (randomForest semantics: left when x[var] <= split)."""
    k = 0
    while tree[k][0] != 0:
        left, right, var, split, _ = tree[k]
        k = (left if x[var - 1] <= split else right) - 1
    return tree[k][4]


TREES = [
    [(2, 3, 1, 0.5, 0), (0, 0, 0, 0, 1.0), (4, 5, 2, 2.0, 0), (0, 0, 0, 0, 2.0), (0, 0, 0, 0, 3.0)],
    [(0, 0, 0, 0, 10.0)],
    [(2, 3, 2, -1.0, 0), (0, 0, 0, 0, -4.0), (0, 0, 0, 0, 4.0)],
]


def _forest(trees, with_status: bool) -> MA.Forest:
    a = _tree_arrays(trees)
    return MA.Forest(a["lDau"].astype(int), a["rDau"].astype(int), a["upper"], a["avnode"], a["mbest"].astype(int),
                     a["nodestatus"].astype(int) if with_status else None)  # fmt: skip


@pytest.mark.parametrize("with_status", [True, False])
def test_forest_predict_matches_walking_each_tree(with_status):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 2, (50, 2)), [[0.5, 0.0], [1.0, 2.0], [1.0, 3.0], [0.4, -1.0]]])
    got = MA.forest_predict(_forest(TREES, with_status), x)
    ref = [np.mean([_walk(t, row) for t in TREES]) for row in x]
    np.testing.assert_allclose(got, ref)
    assert got[-4] == pytest.approx((1.0 + 10 + 4) / 3) and got[-3] == pytest.approx((2.0 + 10 + 4) / 3)


def _write_model(path, thresholds=(0.5, 0.9, 50.0), linear=(1.0, 0.5, 0.25, 0.125)):
    """A model.mat in randomforest-matlab's layout: model.rf = {rf1, rf2, rf3}, model.linear (4x1)."""
    from scipy.io import savemat

    rfs = []
    for k, thr in enumerate(thresholds):
        trees = [[(2, 3, 1 + k, thr, 0), (0, 0, 0, 0, 1.0 + k), (0, 0, 0, 0, 5.0 + k)], [(0, 0, 0, 0, 2.0)]]
        rfs.append({**_tree_arrays(trees), "ntree": 2.0})
    cell = np.empty((1, 3), dtype=object)
    for k, rf in enumerate(rfs):
        cell[0, k] = rf
    savemat(path, {"model": {"rf": cell, "linear": np.array(linear, float).reshape(4, 1)}})
    return path


def test_model_mat_round_trip_and_ma_score_wiring(tmp_path):
    from skimage import data

    path = _write_model(tmp_path / "model.mat")
    model = MA.load_model(str(path))
    assert model.linear.tolist() == [1.0, 0.5, 0.25, 0.125] and model.forests[2].var[0, 0] == 3
    img = data.astronaut()[:136, :140]
    f1, f2, f3 = MA.feature_all(y_numpy(img, rounded=True)[4:-4, 4:-4])
    s = [np.mean([(1.0 + k if f[k] <= thr else 5.0 + k), 2.0]) for k, (f, thr) in
         enumerate(zip((f1, f2, f3), (0.5, 0.9, 50.0)))]  # fmt: skip
    expected = 1.0 + 0.5 * s[0] + 0.25 * s[1] + 0.125 * s[2]
    assert M.ma_score(img, 4, model=path) == pytest.approx(expected)
    batch = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    assert M.ma_score(batch, 4, model=path)[0].item() == pytest.approx(expected)


def test_perceptual_index_combines_ma_and_niqe(tmp_path, shared_data):
    from skimage import data

    path = _write_model(tmp_path / "model.mat")
    params = shared_data / "metrics" / "niqe_modelparameters.mat"
    img = data.astronaut()[:208, :208]
    ma, nq = M.ma_score(img, 4, model=path), M.niqe(img, 4, params)
    assert M.perceptual_index(img, 4, model=path, niqe_params=params) == pytest.approx(((10 - ma) + nq) / 2)


def test_features_shapes_determinism_and_sensitivity():
    from scipy.ndimage import gaussian_filter
    from skimage import data

    y = y_numpy(data.camera()[:128, :160][..., None].repeat(3, 2), rounded=True)
    f = MA.feature_all(y)
    assert [v.shape for v in f] == [(18,), (45,), (75,)] and all(np.isfinite(v).all() for v in f)
    assert all(np.array_equal(a, b) for a, b in zip(f, MA.feature_all(y.copy())))
    blurred = MA.feature_all(gaussian_filter(y, 2.0))
    assert blurred[2][-1] < f[2][-1]  # blur removes energy from the small singular values
    assert not np.allclose(blurred[0], f[0])


def test_missing_model_is_reported_not_invented(tmp_path, monkeypatch):
    monkeypatch.setenv("SPSR_CACHE", str(tmp_path))
    monkeypatch.delenv("SPSR_MA_MODEL", raising=False)
    with pytest.raises(WeightsUnavailableError, match=r"model\.mat not found: see README"):
        M.ma_score(np.zeros((100, 100, 3), np.uint8))
    assert MA.ma_status() == (False, "model.mat not found: see README")
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"junk")
    with pytest.raises(WeightsUnavailableError, match="not Ma et al.'s model.mat"):
        MA.load_model(str(bad))


def test_evaluate_fills_the_pi_column_when_both_model_files_exist(tmp_path, shared_data):
    from skimage import data

    from spsr_lib.inference.evaluate import evaluate
    from spsr_lib.io.images import write_image

    folder = tmp_path / "One"
    folder.mkdir()
    write_image(folder / "astronaut.png", data.astronaut()[:208, :208])
    params = shared_data / "metrics" / "niqe_modelparameters.mat"
    ev = evaluate([str(folder)], mode="spsr", metrics=("psnr", "ssim", "pi"), niqe_params=params,
                  ma_model=_write_model(tmp_path / "model.mat"), progress=False)  # fmt: skip
    v = ev.methods[0].values["One"]["astronaut"]
    assert v["pi"] == pytest.approx(((10 - v["ma"]) + v["niqe"]) / 2)
    assert "pi" not in ev.unavailable and f"{v['pi']:.3f}/n/a" in ev.table("spsr")  # LPIPS not asked
