"""`spsr demo`: the report folder, its metrics against an independent computation, its options."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import torch
from PIL import Image

import spsr_lib.metrics as M
from spsr_lib.io.demo_weights import default_demo_weights_path
from spsr_lib.metrics import colour_shift

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory) -> Path:
    from spsr_lib.io.checkpoint import save_generator
    from spsr_lib.models.spsr_net import SPSRNet
    from spsr_lib.ops.blocks import init_weights

    torch.manual_seed(0)
    model = SPSRNet(nf=4, nb=1, gc=4, scale=4)
    init_weights(model, 0.6)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_generator(model, path)
    return path


def y_psnr(a: np.ndarray, b: np.ndarray, shave: int) -> float:
    """PSNR on the float BT.601 Y channel (MATLAB rgb2ycbcr), ``shave`` px cut: written out independently."""
    def y(img):
        img = img.astype(np.float64)
        return 16 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255

    d = (y(a) - y(b))[shave:-shave, shave:-shave]
    return 10 * math.log10(255**2 / np.mean(d**2))


def check_report_folder(out: Path) -> dict:
    index = out / "index.html"
    page = index.read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links, "index.html links nothing"
    for link in links:
        assert not link.startswith(("/", "http", "file:")), f"not a relative link: {link}"
        assert (out / unquote(link)).is_file(), f"broken link {link}"
    hidden = [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".spsr_demo.json"]  # the record
    assert not hidden, "temporary files left behind"
    return json.loads((out / "metrics.json").read_text())


def test_demo_runs_end_to_end_with_a_tiny_model(tmp_path, tiny_model_file, capsys):
    from skimage import data

    from spsr_lib.cli import main
    from spsr_lib.inference.infer import upscale
    from spsr_lib.io.checkpoint import load_generator
    from spsr_lib.ops.imresize import imresize

    out = tmp_path / "report"
    start = time.perf_counter()
    rc = main(["demo", "--model", str(tiny_model_file), "--out", str(out), "--device", "cpu"])
    seconds = time.perf_counter() - start
    assert rc == 0 and seconds < 60, seconds
    assert str(out / "index.html") in capsys.readouterr().out  # says where the report is
    report = check_report_folder(out)
    assert [i["name"] for i in report["images"]] == ["astronaut", "chelsea", "coffee", "rocket"]
    assert {"metrics.md", "astronaut.png", "astronaut_sr.png"} <= {p.name for p in out.iterdir()}
    assert Image.open(out / "astronaut.png").size[0] > 800  # the 4-panel figure, not a single image

    # astronaut again, independently: centre 256 crop, MATLAB-bicubic LR, bicubic baseline, Y-PSNR
    hr = data.astronaut()[128:384, 128:384]
    lr = imresize(hr, 0.25, mode="matlab")
    entry = report["images"][0]
    assert entry["lr_size"] == [64, 64] and entry["sr_size"] == [256, 256]
    bicubic = entry["metrics"]["bicubic"]
    assert bicubic["psnr_standard"] == pytest.approx(y_psnr(imresize(lr, 4.0, mode="matlab"), hr, 4), abs=1e-6)
    sr_png = np.asarray(Image.open(out / "astronaut_sr.png"))
    np.testing.assert_array_equal(sr_png, upscale(lr, load_generator(tiny_model_file), device="cpu"))
    assert entry["metrics"]["SPSR"]["psnr_standard"] == pytest.approx(y_psnr(sr_png, hr, 4), abs=1e-6)
    for method in ("bicubic", "SPSR"):
        m = entry["metrics"][method]
        assert 0 < m["ssim_standard"] <= 1 and 0 < m["ssim_spsr"] <= 1 and m["gradient_psnr"] > 0
        assert m["colour_shift"] == pytest.approx(colour_shift(sr_png if method == "SPSR" else
                                                               imresize(lr, 4.0, mode="matlab"), hr), abs=1e-9)
        if report["lpips_available"]:
            assert 0 <= m["lpips"] < 1.5
        else:  # n/a, with the reason in the report
            assert m["lpips"] is None and report["lpips_reason"]
        if report["dists_available"]:
            assert 0 <= m["dists"] < 1
        else:
            assert m["dists"] is None and report["dists_reason"]
    # structure (issue 24): phase index and gradient-map L1 for both rows, the branch diagnostics for the model
    model = load_generator(tiny_model_file).eval()
    for method, img in (("bicubic", imresize(lr, 4.0, mode="matlab")), ("SPSR", sr_png)):
        assert entry["metrics"][method]["phase_index"] == pytest.approx(M.phase_index(img), rel=1e-12)
        assert entry["metrics"][method]["gradient_l1"] == pytest.approx(M.gradient_l1(img, hr), rel=1e-12)
    with torch.no_grad():
        grad_sr = model(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255).grad_sr
    spsr = entry["metrics"]["SPSR"]
    assert spsr["branch_grad_l1"] == pytest.approx(M.branch_gradient_l1(grad_sr, hr), rel=1e-6)
    assert spsr["branch_zero_change"] == pytest.approx(M.branch_zero_change(model, lr), rel=1e-5)
    assert spsr["branch_zero_change"] > 0
    assert "branch_grad_l1" not in entry["metrics"]["bicubic"]
    md = (out / "metrics.md").read_text()
    assert "| **mean** | SPSR |" in md and "spsr = uint8-rounded Y" in md
    assert "| phase index | grad L1 | branch grad L1 | branch zero change |" in md
    bic_row = next(line for line in md.splitlines() if line.startswith("| astronaut | bicubic |"))
    assert bic_row.endswith(f"| {entry['metrics']['bicubic']['phase_index']:.2f} | "
                            f"{entry['metrics']['bicubic']['gradient_l1']:.4f} | n/a | n/a |"), bic_row
    assert f"| {spsr['branch_grad_l1']:.4f} | {spsr['branch_zero_change']:.2f} |" in md
    assert "branch zero change: mean change" in (out / "index.html").read_text()


def test_demo_on_ones_own_photo_as_hr_and_as_lr(tmp_path, tiny_model_file, sample_images, capsys):
    from spsr_lib.cli import main

    photo = tmp_path / "my photo.png"
    Image.fromarray(sample_images["coffee"][:90, :70]).save(photo)
    out = tmp_path / "hr_mode"
    assert main(["demo", "--model", str(tiny_model_file), "--image", str(photo), "--out", str(out)]) == 0
    report = check_report_folder(out)
    (entry,) = report["images"]
    assert "treated as HR" in entry["source"] and entry["sr_size"] == [88, 68] and entry["lr_size"] == [22, 17]
    assert entry["metrics"]["SPSR"]["psnr_standard"] > 0

    out = tmp_path / "lr_mode"
    assert main(["demo", "--model", str(tiny_model_file), "--image", str(photo), "--lr-input", "--size", "0",
                 "--out", str(out)]) == 0
    report = check_report_folder(out)
    (entry,) = report["images"]
    assert entry["metrics"] == {} and entry["lr_size"] == [90, 70] and entry["sr_size"] == [360, 280]
    assert "no metrics" in (out / "index.html").read_text().lower()


def test_demo_user_errors_are_one_line(tmp_path, tiny_model_file, capsys, monkeypatch):
    from spsr_lib.cli import main

    monkeypatch.setenv("SPSR_DEMO_WEIGHTS", str(tmp_path / "absent.safetensors"))
    assert main(["demo", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "demo weights not found" in err and "--model" in err and "\n" not in err
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["demo", "--model", str(tiny_model_file), "--image", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.png" in capsys.readouterr().err
    assert main(["demo", "--model", str(tiny_model_file), "--lr-input", "--out", str(tmp_path / "o")]) == 2


@pytest.mark.skipif(not default_demo_weights_path().is_file(), reason="demo weights not shipped yet")
def test_demo_with_the_shipped_weights(tmp_path, capsys):
    """The README's main job: `spsr demo` with the shipped weights in under 2 minutes on the CPU."""
    from spsr_lib.cli import main

    start = time.perf_counter()
    assert main(["demo", "--out", str(tmp_path / "report"), "--device", "cpu"]) == 0
    seconds = time.perf_counter() - start
    assert seconds < 120, seconds
    report = check_report_folder(tmp_path / "report")
    mean = report["mean"]
    # Sanity, not quality (the model card holds the evaluation): trained weights loaded the right way round
    # give an image close to HR; a random or mis-loaded generator gives ~14 dB and ~20 dB grad-PSNR here.
    assert mean["SPSR"]["psnr_standard"] > 22, mean
    assert mean["SPSR"]["gradient_psnr"] > mean["bicubic"]["gradient_psnr"] - 2.0, mean
    # what the demo is for (issue 15): no colour cast, and a perceptual gain over bicubic on every photo
    # (the GPU weights shipped before 2026-12-01 had a mean shift of ~12 grey levels here)
    assert mean["SPSR"]["colour_shift"] < 3.0, mean
    # structure (issue 24): no 4-px grid on any photo (the demo of 2026-12-01 averaged 3.07 here, bicubic ~1.9),
    # and edges closer to HR's than bicubic's. (The branch's own map, branch_grad_l1, is reported but not yet
    # better than M(bicubic) on every photo: the model card says by how much.)
    assert mean["bicubic"]["phase_index"] > 1.5 and mean["bicubic"]["branch_grad_l1"] is None, mean
    for entry in report["images"]:
        m = entry["metrics"]
        assert m["SPSR"]["phase_index"] <= 1.4, (entry["name"], m["SPSR"]["phase_index"])
        assert m["SPSR"]["gradient_l1"] < m["bicubic"]["gradient_l1"], (entry["name"], m)
        assert m["SPSR"]["branch_grad_l1"] > 0, (entry["name"], m)
    if report["lpips_available"]:
        for entry in report["images"]:
            m = entry["metrics"]
            assert m["SPSR"]["lpips"] < m["bicubic"]["lpips"], (entry["name"], m)


def test_demo_offline_without_weights_names_each_missing_one_in_one_line(tmp_path, tiny_model_file, capsys,
                                                                        sample_images, monkeypatch):
    """Network off, nothing cached: the demo still runs; LPIPS and DISTS are n/a, each named in one line."""
    from spsr_lib.cli import main
    from spsr_lib.io import weights as W

    monkeypatch.setenv("SPSR_OFFLINE", "1")
    monkeypatch.setenv("SPSR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPSR_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(W, "hub_checkpoint_dir", lambda: tmp_path / "hub")
    monkeypatch.setattr(__import__("importlib").import_module("spsr_lib.metrics.dists"), "_MODELS", {})
    photo = tmp_path / "p.png"
    Image.fromarray(sample_images["coffee"][:64, :64]).save(photo)
    out = tmp_path / "report"
    assert main(["demo", "--model", str(tiny_model_file), "--image", str(photo), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    lpips_line = [x for x in printed if x.startswith("spsr demo: LPIPS n/a:")]
    dists_line = [x for x in printed if x.startswith("spsr demo: DISTS n/a:")]
    assert len(lpips_line) == 1 and "spsr weights fetch alex" in lpips_line[0]
    assert len(dists_line) == 1 and "spsr weights fetch dists" in dists_line[0]
    report = check_report_folder(out)
    m = report["images"][0]["metrics"]["SPSR"]
    assert m["lpips"] is None and m["dists"] is None and m["psnr_standard"] > 0
    assert "DISTS" in (out / "metrics.md").read_text() and not report["dists_available"]
