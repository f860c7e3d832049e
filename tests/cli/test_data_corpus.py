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
from tests.cli.conftest import one_error_line, run_spsr


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
