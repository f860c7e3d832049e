"""scripts/make_ablation_results.py: the fast profile end to end, the results file, resuming, --aggregate-only.

Needs ../shared/data (benchmarks for the evaluation and the crops, train/T91 for the training images).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VARIANTS = ("l1", "esrgan")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def script():
    path_before = list(sys.path)
    spec = importlib.util.spec_from_file_location("make_ablation_results", REPO / "scripts" / "make_ablation_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # puts scripts/ on sys.path (for ablation_document)
    yield mod
    sys.path[:] = path_before


@pytest.fixture
def data(shared_data, monkeypatch, tmp_path) -> Path:
    """The shared benchmarks, and 12 of the T91 images as the training set (listing all 291 training images
    reads each file: seconds per Trainer)."""
    t91 = shared_data / "train" / "T91" / "HR"
    if not (shared_data / "benchmarks" / "Set5").is_dir() or not t91.is_dir():
        pytest.skip(f"{shared_data}: benchmarks/Set5 or train/T91/HR missing")
    small = tmp_path / "shared"
    (small / "train" / "T91").mkdir(parents=True)
    (small / "benchmarks").symlink_to(shared_data / "benchmarks")
    for k in range(1, 13):
        (small / "train" / "T91" / f"t{k}.png").symlink_to(t91 / f"t{k}.png")
    monkeypatch.setenv("SPSR_SHARED_DATA", str(small))
    # every results-file update cuts the showcase crops again, loading (and bicubic-downscaling) all of Set5
    # and Set14 to find two images: keep the loaded sets for the test (the same files, read once)
    import spsr_lib.data.benchmark_sets as bs

    sets, load = {}, bs.load_benchmark_set

    def cached(name, scale=4, root=None):
        key = (str(name), scale, None if root is None else str(root))
        if key not in sets:
            sets[key] = load(name, scale, root)
        return sets[key]

    monkeypatch.setattr(bs, "load_benchmark_set", cached)
    return small


def _mtimes(work: Path) -> dict[str, int]:
    return {v: (work / v / "seed1" / "result.json").stat().st_mtime_ns for v in VARIANTS}


def test_fast_profile_results_resume_and_aggregate(script, data, tmp_path):
    from spsr_lib.io.images import read_image
    from spsr_lib.train.ablation import BY_NAME

    argv = ["--fast", "--variants", *VARIANTS, "--steps", "2", "--work", str(tmp_path / "work"),
            "--out", str(tmp_path / "out")]
    assert script.main(argv) == 0
    work, out = tmp_path / "work" / "fast", tmp_path / "out"
    results_file = out / "ablation_results_fast.json"
    doc = json.loads(results_file.read_text())

    # ---- the results file
    assert doc["profile"] == "fast" and doc["complete"] is True
    assert (doc["pairs_done"], doc["pairs_total"]) == (2, 2)
    assert doc["command"] == "python scripts/make_ablation_results.py " + " ".join(argv)
    assert doc["steps"] == 2 and doc["seeds"] == [1]
    assert list(doc["results"]) == list(VARIANTS)
    assert set(doc["bicubic"]) == {"Set5", "Set14"} and doc["bicubic"]["Set5"]["psnr_standard"] > 20
    assert (work / "stage1_rrdb" / "done.json").is_file()
    assert str(data / "train" / "T91") in (work / "l1" / "seed1" / "config.yaml").read_text()
    assert not (work / "stage1_srresnet").exists()  # SRResNet is pre-trained only for its variants
    for name, r in doc["results"].items():
        v = BY_NAME[name]
        assert r["label"] == v.label and r["backbone"] == "rrdb" and r["stage"] == v.stage
        assert r["overrides"] == [*script.RECIPE, *v.overrides()]
        assert list(r["seeds"]) == ["1"] and r["median_seed"] == "1"
        per_set = r["seeds"]["1"]
        assert set(per_set) == {"Set5", "Set14"}
        for values in per_set.values():
            assert {"psnr_standard", "psnr_spsr", "ssim_standard", "ssim_spsr", "colour_shift", "grad_psnr",
                    "grad_l1"} <= set(values)
            assert all(math.isfinite(x) for x in values.values())
            assert 5 < values["psnr_standard"] < 50
        assert r["mean"] == per_set  # one seed: the mean is that seed's value ...
        assert all(s is None for sets in r["std"].values() for s in sets.values())  # ... and no std (ddof=1)
        assert set(r["std"]) == set(per_set)
        curves = r["curves"]["1"]
        assert curves["step"] == [1, 2] and len(curves["l_pixel"]) == 2
        assert ("l_gan" in curves) == (name == "esrgan")
        assert r["params"] > 0 and r["train_seconds"]["1"] >= 0
        for image in ("butterfly", "zebra"):
            crop = out / "crops" / f"fast_{name}_{image}.png"
            assert crop.is_file() and read_image(crop).shape == (128, 128, 3), crop
    for ref in ("HR", "bicubic"):
        assert (out / "crops" / f"fast_{ref}_butterfly.png").is_file()
    # the two variants did not share a generator: different training, different images
    assert doc["results"]["l1"]["seeds"] != doc["results"]["esrgan"]["seeds"]
    assert (out / "ablation_results_fast.md").is_file()

    # ---- a re-run retrains nothing and rewrites the results file
    before = _mtimes(work)
    stage1_mtime = (work / "stage1_rrdb" / "models" / "G_latest.safetensors").stat().st_mtime_ns
    results_file.unlink()
    assert script.main(argv) == 0
    assert _mtimes(work) == before
    assert (work / "stage1_rrdb" / "models" / "G_latest.safetensors").stat().st_mtime_ns == stage1_mtime
    again = json.loads(results_file.read_text())
    assert again["results"] == doc["results"] and again["command"] == doc["command"]

    # ---- a lost result.json is restored (from the pair's last checkpoint), the other pair is left alone
    lost = work / "esrgan" / "seed1" / "result.json"
    old = json.loads(lost.read_text())
    lost.unlink()
    assert script.main(argv) == 0
    assert lost.is_file()
    assert (work / "l1" / "seed1" / "result.json").stat().st_mtime_ns == before["l1"]
    new = json.loads(lost.read_text())
    assert new["evaluation"]["methods"] == old["evaluation"]["methods"] and new["curves"] == old["curves"]
    assert json.loads(results_file.read_text())["results"]["esrgan"]["seeds"] == doc["results"]["esrgan"]["seeds"]

    # ---- --aggregate-only: the results file from the run folders, nothing trained, the launch command kept
    mtimes = _mtimes(work)
    results_file.unlink()
    assert script.main([*argv, "--aggregate-only"]) == 0
    assert _mtimes(work) == mtimes
    agg = json.loads(results_file.read_text())
    assert agg["command"] == doc["command"] and agg["complete"] is True
    assert agg["results"]["l1"] == doc["results"]["l1"]

    # ---- the --only worker (what --jobs starts): a finished pair is skipped; a pair whose pre-train has not run
    # stops with a message
    assert script.main([*argv, "--only", "esrgan:1"]) == 0
    assert _mtimes(work) == mtimes
    with pytest.raises(SystemExit, match="srresnet pre-train has not run"):
        script.main([*argv, "--only", "srresnet_esrgan:1"])
    assert not (work / "srresnet_esrgan" / "seed1").exists()


def test_profiles_and_subset_labels(script, tmp_path, shared_data):
    """structure is the default (second edition, its own results folder); --pilot is (b)/(c)/(d), one seed; a
    subset of Urban100 (026–075) is named as such, crops included, and never as "Urban100"."""
    from ablation_eval import eval_folders

    args = script.parse_args(["--work", str(tmp_path)])
    assert args.profile == "structure" and args.out == REPO / "data" / "ablation_results_v2"
    assert args.p["residual"] == "bicubic" and args.p["fusion_init"] == "identity_branch"
    assert args.base_config == REPO / "configs" / "structure_x4.yaml" and args.p["seeds"] == [1, 2, 3]
    assert script.arch_of(args.p).rrdb == (24, 8, 12)
    assert [n for n, _ in args.p["eval"]] == ["Set5", "Set14", "BSD100", "Urban100"]
    pilot = script.parse_args(["--pilot", "--work", str(tmp_path)])
    assert pilot.variants == ["esrgan", "grad_loss", "spsr"] and pilot.p["seeds"] == [1] and pilot.p["every"] == 50
    assert pilot.out == REPO / "data" / "ablation_results_v2" / "pilot"
    assert script.parse_args(["--profile", "cpu"]).out == REPO / "data" / "ablation_results"
    if not (shared_data / "benchmarks" / "Urban100").is_dir():
        pytest.skip("no Urban100 (026–075) in ../shared")
    sub = script.parse_args(["--work", str(tmp_path), "--urban100-first", "3", "--urban100-crop", "64",
                             "--bsd100", "2"])
    labels = [lab for _, lab in eval_folders(sub.work, sub.p)]
    assert labels[0] == "Set5" and labels[2].startswith("BSD100 (")
    assert labels[3] == "Urban100 (026–028), centred 64-px crops"
    assert "Urban100 (026–075): its first 3 images, centred 64-px HR crops (command line)" in sub.p["eval_note"]
    assert "BSD100: all 100" not in sub.p["eval_note"] and sub.p["eval_note"].startswith("whole images, fp32")
