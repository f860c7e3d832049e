"""``spsr data download`` on the hostile corpus (issue 19), against a local HTTP server: one line per failure,
nothing half-installed, no empty ``.downloads`` folders (completed files stay there for the next try), every failed try of a stalled server said on stderr."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests import corpus
from tests.cli.conftest import one_error_line, refused, run_spsr, unchanged


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        files, stall = self.server.files, self.server.stall
        if self.path in stall:
            time.sleep(stall[self.path])
        data = files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up on a stalled request: expected
            pass

    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # no traceback on stderr from a handler thread, which a
        pass                                           # later test's stderr capture would see


@pytest.fixture()
def server():
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.stall = {}, {}
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    httpd.shutdown()
    httpd.server_close()


def _files_set(base, httpd, tmp_path, bad_name, bad_bytes, pixels_sha="0" * 64):
    good = corpus.good_png(tmp_path / "good.png", side=20).read_bytes()
    httpd.files.update({"/good.png": good, f"/{bad_name}": bad_bytes})
    return {"Foo": {"kind": "benchmark", "source": {"type": "files", "base_url": f"{base}/"},
                    "files": [{"name": "good.png", "sha256": hashlib.sha256(good).hexdigest()},
                              {"name": bad_name.replace(".bmp", ".png"), "remote": bad_name,
                               "pixels_sha256": pixels_sha}]}}


def test_download_failures_are_one_line_and_leave_nothing(server, tmp_path, capsys, monkeypatch):
    base, httpd = server
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    cases = [
        ("bomb", "bomb.bmp", corpus.bomb_png(scratch / "bomb.png").read_bytes(), ["Foo", "decompression bomb"]),
        ("truncated", "cut.bmp", corpus.truncated_png(scratch / "cut.png").read_bytes(), ["cut.bmp", "truncated"]),
        ("wrong_pixels", "px.bmp", corpus.good_png(scratch / "px.png", side=8).read_bytes(),
         ["Foo/px.png", "nothing was installed"]),
        ("missing_on_server", "gone.bmp", None, ["gone.bmp", "HTTP 404"]),
    ]
    for name, remote, data, names in cases:
        registry = _files_set(base, httpd, scratch, remote, data)
        if data is None:
            del httpd.files[f"/{remote}"]
        path = tmp_path / f"registry_{name}.json"
        path.write_text(json.dumps({"sets": registry}))
        monkeypatch.setenv("SPSR_DATASETS_JSON", str(path))
        root = tmp_path / f"datasets_{name}"
        res = run_spsr(capsys, "data", "download", "Foo", "--root", root, "--no-progress")
        try:
            line = one_error_line(res, *names)
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert ".staging" not in line, f"case {name}: names a deleted staging folder: {line}"
        assert not (root / "Foo").exists(), f"case {name}: something installed"
        empty = [p for p in [root, *root.rglob("*")] if p.is_dir() and not any(p.iterdir())]
        assert not empty, f"case {name}: left empty folders {empty}"
        assert not list(root.rglob("*.part")) or name == "missing_on_server", f"case {name}: left a .part"


def test_a_stalled_server_is_reported_on_every_try(server, tmp_path, capsys):
    from spsr_lib.data.download import DownloadError, fetch

    base, httpd = server
    httpd.files["/slow.bin"] = b"x" * 10
    httpd.stall["/slow.bin"] = 1.0
    capsys.readouterr()
    with pytest.raises(DownloadError, match=r"after 2 tries; check the network"):
        fetch(f"{base}/slow.bin", tmp_path / "slow.bin", retries=1, timeout=0.2, progress=False)
    time.sleep(1.2)  # let the stalled handler threads finish inside this test
    tries = [ln for ln in capsys.readouterr().err.splitlines() if "try 1 of 2 failed" in ln]
    assert len(tries) == 1 and "slow.bin" in tries[0] and "retrying" in tries[0]


PREP = ["--crop", "32", "--step", "16", "--no-progress"]


def test_prepare_never_writes_over_a_file_it_did_not_write_nor_into_its_input(tmp_path, capsys):
    """(issue 26) ``spsr data prepare HR OUT``: a user's OUT/HR/a_s001.png was replaced, and OUT = HR's parent cut the
    sub-images into the input folder. Both refused in one line before any write; a re-run over its own output goes."""
    hr = tmp_path / "ds" / "HR"
    hr.mkdir(parents=True)
    corpus.good_png(hr / "a.png", side=64)
    taken = tmp_path / "taken"
    users = corpus.a_regular_file(taken / "HR" / "a_s001.png") if (taken / "HR").mkdir(parents=True) is None else None
    for name, out, names in (("users_file", taken, ["a_s001.png", "was not written by spsr data prepare"]),
                             ("out_holds_the_input", tmp_path / "ds", ["HR_DIR", "choose another OUT_DIR"])):
        before = unchanged(tmp_path)
        res = run_spsr(capsys, "data", "prepare", hr, out, *PREP)
        try:
            refused(res, *names)
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert unchanged(tmp_path) == before, f"case {name}: wrote or changed files"
    assert users.read_text().startswith("the user's own file")
    for _ in range(2):  # its own earlier output is replaced
        res = run_spsr(capsys, "data", "prepare", hr, tmp_path / "subs", *PREP)
        assert res.rc == 0, res.err_lines
    assert len(list((tmp_path / "subs" / "HR").iterdir())) == len(list((tmp_path / "subs" / "LR_x4").iterdir())) == 9


def test_prepare_inputs_that_are_not_images_or_folders_are_one_line(tmp_path, capsys):
    """(issue 26) A NaN / Inf float TIFF or a 32-bit TIFF in HR_DIR (refused before any sub-image is written), and an
    HR_DIR that is a symlink loop, a FIFO or a file."""
    junk = corpus.junk_inputs(tmp_path / "junk", "")
    cases = []
    for name, make in (("nan", corpus.float_tiff), ("inf", lambda p: corpus.float_tiff(p, bad=float("inf"))),
                       ("int32", corpus.int32_tiff)):
        folder = tmp_path / f"hr_{name}"
        folder.mkdir()
        corpus.good_png(folder / "a.png", side=64)
        cases.append((name, folder, [make(folder / "z.tif").name]))
    cases += [(f"hr_dir_{k}", junk[k], [junk[k].name]) for k in ("symlink_loop", "fifo", "binary", "dangling")]
    for name, hr, names in cases:
        before = unchanged(tmp_path)
        res = run_spsr(capsys, "data", "prepare", hr, tmp_path / f"out_{name}", "--crop", "32", "--step", "16",
                       "--no-progress")
        try:
            refused(res, *names)
        except AssertionError as exc:
            raise AssertionError(f"case {name}: {exc}") from None
        assert unchanged(tmp_path) == before, f"case {name}: wrote or changed files"


def test_registry_files_that_are_not_utf8_json_and_overlong_names_are_one_line(tmp_path, capsys, monkeypatch):
    """(issue 26) $SPSR_DATASETS_JSON as UTF-16, binary, 5 MB, nested 100,000 deep, not JSON, without 'sets', with a
    set lacking its source: one line each (before: UnicodeDecodeError / RecursionError / KeyError tracebacks); an
    unknown 5,000-character set name is quoted short."""
    good = '{"sets": {"Foo": {"kind": "benchmark", "source": {"type": "files"}, "files": []}}}'
    files = {
        "utf16": (good.encode("utf-16"), "UTF-8"), "binary": (bytes(range(256)) * 8, "UTF-8"),
        "huge": (b" " * (5 * 2**20) + good.encode(), "too large"), "deep": (b"[" * 100_000 + b"]" * 100_000, "JSON"),
        "not_json": (b"sets: {}\n", "not valid JSON"), "no_sets": (b'{"Foo": {}}', "'sets'"),
        "no_source": (b'{"sets": {"Foo": {"kind": "benchmark"}}}', "'source'"),
    }
    for name, (data, word) in files.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        monkeypatch.setenv("SPSR_DATASETS_JSON", str(path))
        for argv in (["list"], ["verify", "Foo", "--root", tmp_path / "root"]):
            res = run_spsr(capsys, "data", *argv)
            try:
                line = refused(res, path.name, word)
            except AssertionError as exc:
                raise AssertionError(f"case {name} {argv[0]}: {exc}") from None
            assert len(line) < 400, (name, len(line))
    monkeypatch.delenv("SPSR_DATASETS_JSON")
    for action in ("verify", "download"):
        line = refused(run_spsr(capsys, "data", action, "x" * 5000, "--root", tmp_path / "root"), "unknown dataset")
        assert len(line) < 400 and not (tmp_path / "root").exists(), (action, len(line))
