"""``spsr evaluate``: Bicubic row, SR folders, both protocols, outputs, clear errors, the paper's bicubic row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import spsr_lib.metrics as M
from spsr_lib.cli import main
from spsr_lib.errors import SPSRError
from spsr_lib.inference.evaluate import evaluate
from spsr_lib.io.images import write_image
from spsr_lib.ops.imresize import imresize

FAST = ("psnr", "ssim", "grad_psnr", "grad_l1")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mini_set(tmp_path_factory) -> Path:
    """A two-image benchmark folder (crops of scikit-image photos, sizes not multiples of 4)."""
    from skimage import data

    folder = tmp_path_factory.mktemp("bench") / "Mini" / "HR"
    folder.mkdir(parents=True)
    write_image(folder / "cat.png", data.chelsea()[:202, :291])
    write_image(folder / "coffee.png", data.coffee()[50:250, 100:310])
    return folder.parent


def _noisy(img: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).round().astype(np.uint8)


def _sr_folder(tmp_path: Path, mini_set: Path) -> Path:
    from spsr_lib.data.benchmark_sets import load_benchmark_set

    out = tmp_path / "sr" / "Mini"
    out.mkdir(parents=True)
    for k, item in enumerate(load_benchmark_set(mini_set, 4)):
        write_image(out / f"{item.name}.png", _noisy(item.hr, k))
    return out.parent


def test_bicubic_row_equals_the_metrics_on_matlab_bicubic(mini_set):
    from spsr_lib.data.benchmark_sets import load_benchmark_set

    ev = evaluate([str(mini_set)], mode="both", metrics=FAST, progress=False)
    assert [m.name for m in ev.methods] == ["Bicubic"] and ev.modes == ["standard", "spsr"]
    per_image = ev.methods[0].values["Mini"]
    for item in load_benchmark_set(mini_set, 4):
        assert item.hr.shape[0] % 4 == 0 and item.hr.shape[1] % 4 == 0  # mod-cropped
        sr = imresize(item.lr, 4.0, mode="matlab")
        for mode in ("standard", "spsr"):
            assert per_image[item.name][f"psnr_{mode}"] == pytest.approx(
                M.psnr(sr, item.hr, 4, mode), abs=1e-9
            )
            assert per_image[item.name][f"ssim_{mode}"] == pytest.approx(
                M.ssim(sr, item.hr, 4, mode), abs=1e-9
            )
        assert per_image[item.name]["grad_l1"] == pytest.approx(M.gradient_l1(sr, item.hr), abs=1e-12)
    mean = np.mean([v["psnr_spsr"] for v in per_image.values()])
    assert f"{mean:.3f}/" in ev.table("spsr") and "`spsr`" in ev.table("spsr")


def test_sr_folder_row_and_written_outputs(mini_set, tmp_path):
    sr_dir = _sr_folder(tmp_path, mini_set)
    ev = evaluate([str(mini_set)], mode="spsr", sr_dir=sr_dir, name="Noisy", metrics=FAST, progress=False)
    assert [m.name for m in ev.methods] == ["Bicubic", "Noisy"]
    noisy = ev.methods[1].values["Mini"]
    assert all(v["psnr_spsr"] > 30 for v in noisy.values())  # sigma-6 noise ~ 32.5 dB, far above bicubic
    files = ev.write(tmp_path / "out")
    assert sorted(p.name for p in files) == ["results.json", "results_spsr.csv", "results_spsr.md"]
    md = (tmp_path / "out" / "results_spsr.md").read_text()
    assert (
        "PSNR/SSIM mode: `spsr`" in md and "| Noisy | PSNR/SSIM |" in md and "n/a" in md
    )  # PI/LPIPS not asked
    rows = list(csv.reader((tmp_path / "out" / "results_spsr.csv").open()))
    assert "spsr" in rows[0][0] and rows[1] == ["Method", "Metric", "Mini"]
    js = json.loads((tmp_path / "out" / "results.json").read_text())
    assert js["methods"][1]["per_image"]["Mini"]["cat"]["psnr_spsr"] == pytest.approx(
        noisy["cat"]["psnr_spsr"]
    )
    assert "spsr" in js["modes"]


def test_lpips_and_niqe_columns(mini_set, shared_data):
    params = shared_data / "metrics" / "niqe_modelparameters.mat"
    ev = evaluate([str(mini_set)], mode="standard", metrics=("psnr", "ssim", "niqe", "pi"), niqe_params=params,
                  progress=False)  # fmt: skip
    v = ev.methods[0].values["Mini"]["cat"]
    assert v["niqe"] > 0 and "pi" not in v and "model.mat not found" in ev.unavailable["pi"]
    assert "NIQE/Ma" in ev.table("standard")


def test_clear_errors_for_missing_mismatched_and_unreadable_images(mini_set, tmp_path):
    sr_dir = _sr_folder(tmp_path, mini_set)
    (sr_dir / "Mini" / "coffee.png").unlink()
    with pytest.raises(SPSRError, match=r"no SR image for Mini/coffee; expected coffee\.png"):
        evaluate([str(mini_set)], sr_dir=sr_dir, metrics=FAST, progress=False)
    write_image(sr_dir / "Mini" / "coffee.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(SPSRError, match=r"coffee is 40x40 px, HR .* is 208x200; check the scale"):
        evaluate([str(mini_set)], sr_dir=sr_dir, metrics=FAST, progress=False)
    (sr_dir / "Mini" / "coffee.png").write_bytes(b"not a png")
    with pytest.raises(SPSRError, match="coffee.png"):
        evaluate([str(mini_set)], sr_dir=sr_dir, metrics=FAST, progress=False)
    with pytest.raises(SPSRError, match="unknown metric"):
        evaluate([str(mini_set)], metrics=("fid",), progress=False)


def test_cli_prints_tables_and_exits_2_on_user_errors(mini_set, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["evaluate", "--sets", str(mini_set), "--mode", "both", "--out", str(out), "--no-progress"]
    assert main([*args, "--metrics", "psnr", "ssim"]) == 0
    printed = capsys.readouterr().out
    assert (
        "mode: `standard`" in printed and "mode: `spsr`" in printed and "| Bicubic | PSNR/SSIM |" in printed
    )
    assert (out / "results_standard.md").is_file() and (out / "results_spsr.csv").is_file()
    assert main([*args, "--sr-dir", str(tmp_path / "nowhere"), "--metrics", "psnr"]) == 2
    assert "error:" in capsys.readouterr().err


def test_paper_bicubic_row_in_the_spsr_protocol(shared_data):
    """SPSR Table 1, Bicubic x4: Set5 28.420/0.8245, Set14 26.100/0.7850 (MATLAB toolbox)."""
    ev = evaluate(["Set5", "Set14"], mode="both", metrics=("psnr", "ssim"), progress=False)
    bic = ev.methods[0]
    assert bic.mean("Set5", "psnr_spsr") == pytest.approx(28.420, abs=0.01)
    assert bic.mean("Set5", "ssim_spsr") == pytest.approx(0.8245, abs=5e-4)
    assert bic.mean("Set14", "psnr_spsr") == pytest.approx(26.100, abs=0.02)
    assert bic.mean("Set14", "ssim_spsr") == pytest.approx(0.7850, abs=1e-3)
    assert bic.mean("Set14", "ssim_standard") < 0.75  # the standard protocol does not reproduce the table


def test_bf16_model_row_is_marked_and_close_to_fp32(mini_set, tmp_path):
    from spsr_lib.io.demo_weights import default_demo_weights_path

    weights = default_demo_weights_path()
    fp32 = evaluate([str(mini_set)], model=weights, metrics=("psnr", "ssim"), device="cpu", progress=False)
    fast = evaluate([str(mini_set)], model=weights, metrics=("psnr", "ssim"), device="cpu", bf16=True, progress=False)
    (m32,), (m16,) = fp32.methods[1:], fast.methods[1:]
    assert m16.name == m32.name + " (bf16)" and "bf16" in fast.sources["inference"]
    assert "inference" not in fp32.sources
    for img, v in m32.values["Mini"].items():
        assert v["psnr_standard"] != m16.values["Mini"][img]["psnr_standard"]  # it did run differently
        assert abs(v["psnr_standard"] - m16.values["Mini"][img]["psnr_standard"]) < 0.1
        assert abs(v["ssim_standard"] - m16.values["Mini"][img]["ssim_standard"]) < 2e-3
    written = fast.write(tmp_path / "out")
    assert any("bf16" in p.read_text() for p in written if p.suffix == ".md")
    with pytest.raises(SPSRError, match="--bf16 changes how a model runs"):
        evaluate([str(mini_set)], sr_dir=tmp_path, bf16=True, progress=False)


def test_colour_shift_row_shows_a_known_drift(mini_set, tmp_path):
    """An SR folder that is HR + 6 grey levels in red reads 6.00 in the colour-shift row (bicubic ~0)."""
    import shutil

    from spsr_lib.data.benchmark_sets import load_benchmark_set

    bench = tmp_path / "bench" / "Mini"
    shutil.copytree(mini_set, bench)  # the HR files are rewritten below: keep the module's set intact
    out = tmp_path / "sr" / "Mini"
    out.mkdir(parents=True)
    for item in load_benchmark_set(bench, 4):
        hr = np.clip(item.hr.astype(np.int16), 0, 240)  # room for +6 without clipping
        shifted = hr.copy()
        shifted[..., 0] += 6
        write_image(out / f"{item.name}.png", shifted.astype(np.uint8))
        write_image(bench / "HR" / f"{item.name}.png", hr.astype(np.uint8))
    ev = evaluate([str(bench)], mode="spsr", sr_dir=out.parent, name="Redder",
                  metrics=("psnr", "ssim", "colour_shift"), progress=False)
    bic, red = ev.methods
    assert red.mean("Mini", "colour_shift") == pytest.approx(6.0, abs=1e-9)
    assert bic.mean("Mini", "colour_shift") < 1.5
    row = next(line for line in ev.table("spsr").splitlines() if line.startswith("| Redder | Colour shift"))
    assert row == "| Redder | Colour shift | 6.00 |"


def test_dists_and_lpips_rows_or_one_line_each_when_their_weights_are_missing(mini_set, tmp_path, monkeypatch):
    from spsr_lib.io import weights as W
    from spsr_lib.metrics.dists import dists_status
    from spsr_lib.metrics.lpips import lpips_status

    metrics = ("psnr", "ssim", "lpips", "dists")
    if dists_status()[0] and lpips_status("alex")[0]:
        ev = evaluate([str(mini_set)], mode="standard", metrics=metrics, progress=False)
        v = ev.methods[0].values["Mini"]["cat"]
        assert 0 < v["dists"] < 1 and 0 < v["lpips"] < 1 and "DISTS" in ev.sources
        assert "| Bicubic | DISTS |" in ev.table("standard")
    # the network off and nothing cached: the table still comes, each missing weight named in one line
    monkeypatch.setenv("SPSR_OFFLINE", "1")
    monkeypatch.setenv("SPSR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPSR_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(W, "hub_checkpoint_dir", lambda: tmp_path / "hub")
    ev = evaluate([str(mini_set)], mode="standard", metrics=metrics, progress=False)
    table = ev.table("standard")
    notes = [line for line in table.splitlines() if line.startswith(("- lpips: n/a", "- dists: n/a"))]
    assert len(notes) == 2 and "spsr weights fetch alex" in notes[0] and "spsr weights fetch dists" in notes[1]
    assert "| Bicubic | DISTS |" not in table and "| Bicubic | PSNR/SSIM |" in table


def test_model_in_memory_without_the_bicubic_row_equals_its_file(mini_set, tmp_path):
    import torch

    from spsr_lib.io.checkpoint import save_generator
    from spsr_lib.models.rrdb import RRDBNet

    torch.manual_seed(0)
    net = RRDBNet(nf=8, nb=1, gc=4, scale=4)
    with torch.no_grad():  # an image that is neither black nor bicubic
        for p in net.parameters():
            p.normal_(0, 0.05)
    save_generator(net, tmp_path / "tiny.safetensors")
    from_file = evaluate([str(mini_set)], model=tmp_path / "tiny.safetensors", metrics=FAST, device="cpu",
                         progress=False)
    in_memory = evaluate([str(mini_set)], model=net, name="Tiny", metrics=FAST, device="cpu", progress=False,
                         bicubic=False)
    assert [m.name for m in from_file.methods] == ["Bicubic", "tiny"]
    assert [m.name for m in in_memory.methods] == ["Tiny"]
    (bic, ref), (got,) = from_file.methods, in_memory.methods
    assert got.values == ref.values and set(got.values["Mini"]) == {"cat", "coffee"}
    assert got.values != bic.values
    assert [m["name"] for m in in_memory.to_json()["methods"]] == ["Tiny"]
    unnamed = evaluate([str(mini_set)], model=net, metrics=("psnr",), device="cpu", progress=False, bicubic=False)
    assert [m.name for m in unnamed.methods] == ["RRDBNet"]


def _tiny_spsr():
    import torch

    from spsr_lib.models.spsr_net import SPSRNet
    from spsr_lib.ops.blocks import init_weights

    torch.manual_seed(3)
    net = SPSRNet(nf=8, nb=2, gc=4, residual="bicubic")
    init_weights(net, 0.5)  # a branch that visibly matters
    return net.eval()


STRUCTURE = ("psnr", "ssim", "grad_l1", "phase_index", "branch_grad_l1", "branch_zero_change")


def test_structure_rows_phase_index_and_branch_diagnostics(mini_set, tmp_path):
    import torch

    from spsr_lib.data.benchmark_sets import load_benchmark_set
    from spsr_lib.inference.infer import upscale

    net = _tiny_spsr()
    ev = evaluate([str(mini_set)], mode="standard", model=net, name="Tiny", metrics=STRUCTURE, device="cpu",
                  progress=False)
    plain = evaluate([str(mini_set)], mode="standard", model=net, name="Tiny", metrics=FAST, device="cpu",
                     progress=False, bicubic=False)
    bic, tiny = ev.methods
    for item in load_benchmark_set(mini_set, 4):
        b, t = bic.values["Mini"][item.name], tiny.values["Mini"][item.name]
        # the SR image of the branch pass is the forward's: every image metric is unchanged
        assert t["psnr_standard"] == plain.methods[0].values["Mini"][item.name]["psnr_standard"]
        assert b["phase_index"] == M.phase_index(imresize(item.lr, 4.0, mode="matlab")) > 1.5
        assert t["phase_index"] == M.phase_index(upscale(item.lr, net, device="cpu"))
        assert ev.reference.values["Mini"][item.name]["phase_index"] == M.phase_index(item.hr) < 1.3
        # branch values by hand: grad_sr of the forward, the zero change of the metric on the whole image
        lr_t = torch.from_numpy(item.lr).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            grad_sr = net(lr_t).grad_sr
        assert t["branch_grad_l1"] == pytest.approx(M.branch_gradient_l1(grad_sr, item.hr), rel=1e-6)
        assert t["bicubic_grad_l1"] == b["grad_l1"]  # the reference is the bicubic row's GradL1
        assert t["branch_zero_change"] == pytest.approx(M.branch_zero_change(net, item.lr), rel=1e-5)
        assert t["branch_zero_change"] > 0.05
        assert not {"branch_grad_l1", "branch_zero_change"} & set(b)
    table = ev.table("standard")
    mean = tiny.mean("Mini", "branch_grad_l1"), bic.mean("Mini", "grad_l1")
    assert f"| Tiny | Branch gradL1/Bicubic GradL1 | {mean[0]:.5f}/{mean[1]:.5f} |" in table
    assert f"| Tiny | Branch zero change | {tiny.mean('Mini', 'branch_zero_change'):.2f} |" in table
    assert f"| HR | Phase index | {ev.reference.mean('Mini', 'phase_index'):.2f} |" in table
    assert "| Bicubic | Phase index |" in table and "| Bicubic | Branch" not in table
    assert table.index("| HR | Phase index |") < table.index("| Bicubic | PSNR/SSIM |")
    assert "| HR | PSNR/SSIM |" not in table and "branch zero change: mean change" in table
    ev.write(tmp_path / "out")
    js = json.loads((tmp_path / "out" / "results.json").read_text())
    assert js["reference"]["name"] == "HR" and js["reference"]["mean"]["Mini"]["phase_index"] < 1.3
    assert js["methods"][1]["mean"]["Mini"]["branch_zero_change"] == pytest.approx(
        tiny.mean("Mini", "branch_zero_change"))
    # tiled: the same pass per tile, blended; only the zero change's own metric is asked for here
    tiled = evaluate([str(mini_set)], mode="standard", model=net, metrics=("psnr", "branch_zero_change"),
                     device="cpu", tile=32, progress=False, bicubic=False)
    v = tiled.methods[0].values["Mini"]["cat"]
    assert set(v) == {"psnr_standard", "ssim_standard", "branch_zero_change"} and tiled.reference is None
    assert v["branch_zero_change"] == pytest.approx(tiny.values["Mini"]["cat"]["branch_zero_change"], rel=1e-3)


def test_models_without_a_branch_and_sr_folders_get_no_branch_rows(mini_set, tmp_path):
    import torch

    from spsr_lib.models.rrdb import RRDBNet

    torch.manual_seed(0)
    ev = evaluate([str(mini_set)], mode="standard", model=RRDBNet(nf=8, nb=1, gc=4), name="Plain",
                  metrics=STRUCTURE, device="cpu", progress=False)
    table = ev.table("standard")
    assert "| Plain | Phase index |" in table and "Branch" not in table
    assert all("branch_grad_l1" not in v for v in ev.methods[1].values["Mini"].values())
    folder = evaluate([str(mini_set)], mode="standard", sr_dir=_sr_folder(tmp_path, mini_set), name="Noisy",
                      metrics=STRUCTURE, progress=False)
    assert "| Noisy | Phase index |" in folder.table("standard") and "Branch" not in folder.table("standard")
