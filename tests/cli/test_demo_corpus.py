"""``spsr demo`` on the hostile corpus (issue 19): it never overwrites a file it did not write, one line per error."""

from __future__ import annotations

import pytest

from tests import corpus
from tests.cli.conftest import one_error_line, refused, run_spsr, tree, unchanged

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _demo(capsys, model_file, out, *images, extra=()):
    argv = ["demo", "--model", model_file, "--out", out, "--size", "32", "--device", "cpu", *extra]
    for img in images:
        argv += ["--image", img]
    return run_spsr(capsys, *argv)


def test_out_onto_the_photos_folder_refuses_and_keeps_the_photo(tmp_path, capsys, model_file):
    photos = tmp_path / "photos"
    photos.mkdir()
    cat = corpus.good_png(photos / "cat.png", side=32)
    before = tree(photos)
    res = _demo(capsys, model_file, photos, cat)
    one_error_line(res, "cat.png", "not written by an earlier spsr demo run", "--out")
    assert tree(photos) == before  # cat.png intact, no record, no figure


def test_a_second_run_into_its_own_report_folder_is_allowed(tmp_path, capsys, model_file):
    img = corpus.good_png(tmp_path / "pic.png", side=32)
    out = tmp_path / "report"
    assert _demo(capsys, model_file, out, img).rc == 0
    first = tree(out)
    assert {"pic.png", "pic_sr.png", "index.html", ".spsr_demo.json"} <= set(first)
    assert _demo(capsys, model_file, out, img).rc == 0  # its own files: rewritten
    (out / "notes.txt").write_text("mine")
    assert _demo(capsys, model_file, out, img).rc == 0  # a foreign file the report does not write: untouched
    assert (out / "notes.txt").read_text() == "mine"


def _cases(tmp_path):
    x = corpus.good_png(tmp_path / "x.png", side=32)
    x_sr = corpus.good_png(tmp_path / "x_sr.png", side=32, seed=3)
    taken = tmp_path / "taken"
    taken.mkdir()
    corpus.a_regular_file(taken / "index.html")
    return [
        ("names_collide", [x, x_sr], [], ["x_sr.png", "rename one"]),
        ("foreign_index_html", [x], ["--out", taken], ["index.html", "not written by an earlier"]),
        ("out_is_a_file", [x], ["--out", corpus.a_regular_file(tmp_path / "file.txt")], ["file.txt", "--out"]),
        ("out_under_a_file", [x], ["--out", corpus.under_a_file(tmp_path)], ["is under", "--out"]),
        ("one_pixel_image", [corpus.good_png(tmp_path / "dot.png", side=1)], [], ["dot.png", "larger image"]),
        ("bomb", [corpus.bomb_png(tmp_path / "bomb.png")], [], ["bomb.png", "decompression bomb"]),
        ("truncated", [corpus.truncated_png(tmp_path / "cut.png")], [], ["cut.png", "truncated"]),
        ("nan_model", [x], ["--model", corpus.bad_weights_model(tmp_path / "nan.safetensors", "nan")],
         ["nan.safetensors", "NaN"]),
        ("bad_metadata_model", [x], ["--model", corpus.bad_metadata_model(tmp_path / "meta.safetensors",
                                                                          "arch_huge_nf")], ["meta.safetensors", "nf"]),
    ]


def test_user_errors_are_one_line_and_write_nothing(tmp_path, capsys, model_file):
    cases = _cases(tmp_path)
    for name, images, extra, names in cases:
        out = tmp_path / f"report_{name}"
        before = tree(tmp_path)
        argv_out = [] if "--out" in map(str, extra) else ["--out", out]
        res = run_spsr(capsys, "demo", "--model", model_file, "--size", "32", "--device", "cpu",
                       *[a for img in images for a in ("--image", img)], *argv_out, *extra)
        try:
            one_error_line(res, *names)
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert tree(tmp_path) == before, f"case {name}: wrote or changed files"


def test_files_that_are_not_images_or_models_are_one_line(tmp_path, capsys, model_file):
    """(issue 26) --image: UTF-16 text, binary, empty, a folder, a symlink loop, a dangling link, a FIFO, a 3 GB
    sparse file, NaN / Inf float TIFFs (never a black report), a 32-bit integer TIFF; --model: the same kinds of
    files; --out: a symlink loop or a FIFO; an over-long --device value. Exit 2, exactly one stderr line, nothing
    written or changed."""
    good = corpus.good_png(tmp_path / "good.png", side=32)
    images = corpus.junk_inputs(tmp_path / "img", ".png")
    images["nan_tiff"] = corpus.float_tiff(tmp_path / "nan.tif", side=32)
    images["inf_tiff"] = corpus.float_tiff(tmp_path / "inf.tif", side=32, bad=float("inf"))
    images["int32_tiff"] = corpus.int32_tiff(tmp_path / "int32.tif", side=32)
    cases = [(f"image_{k}", ["--image", v], [v.name]) for k, v in images.items()]
    cases += [(f"model_{k}", ["--image", good, "--model", v], [v.name])
              for k, v in corpus.junk_inputs(tmp_path / "models", ".safetensors").items()]
    cases += [("out_symlink_loop", ["--image", good, "--out", images["symlink_loop"]], ["loop.png", "--out"]),
              ("out_fifo", ["--image", good, "--out", images["fifo"]], ["fifo.png", "--out"]),
              ("device_long", ["--image", good, "--device", "x" * 5000], ["unknown device"])]
    for name, extra, names in cases:
        before = unchanged(tmp_path)
        argv_out = [] if "--out" in map(str, extra) else ["--out", tmp_path / f"report_{name}"]
        model = [] if "--model" in map(str, extra) else ["--model", model_file]
        res = run_spsr(capsys, "demo", *model, "--size", "32", "--device", "cpu", *argv_out, *extra)
        try:
            line = refused(res, *map(str, names))
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert len(line) < 400, (name, len(line))
        assert unchanged(tmp_path) == before, f"case {name}: wrote or changed files"
