"""Downloads against a local HTTP server on 127.0.0.1: resume, checksum failures, archives, the CLI, the registry."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from spsr_lib.cli import main
from spsr_lib.data.download import DownloadError, download_dataset, fetch, load_registry, pixels_digest
from spsr_lib.io.images import read_image_uint8, write_image


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        state = self.server.state
        rng = self.headers.get("Range")
        state["log"].append((self.path, rng))
        data = state["files"].get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if rng and self.path not in state["ignore_range"]:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state["cut"].get(self.path, 0) > 0:  # send half, then drop the connection
            state["cut"][self.path] -= 1
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = {"files": {}, "log": [], "cut": {}, "ignore_range": set()}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, httpd.state
    httpd.shutdown()
    httpd.server_close()


def _payload(n=300_000, seed=0):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_fetch_verifies_and_names_the_file_only_at_the_end(server, tmp_path):
    base, state = server
    data = _payload()
    state["files"]["/f.bin"] = data
    out = fetch(f"{base}/f.bin", tmp_path / "f.bin", sha256=_sha(data), size=len(data), progress=False)
    assert out.read_bytes() == data and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    fetch(f"{base}/f.bin", tmp_path / "f.bin", sha256=_sha(data), progress=False)  # present and valid: no request
    assert len(state["log"]) == 1


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    base, state = server
    state["files"]["/bad.bin"] = _payload(seed=1)
    expected = _sha(b"what the registry says")
    with pytest.raises(DownloadError) as info:
        fetch(f"{base}/bad.bin", tmp_path / "bad.bin", sha256=expected, progress=False)
    assert str(info.value) == (
        f"bad.bin: SHA-256 mismatch (expected {expected}, got {_sha(_payload(seed=1))}); the file was deleted: "
        "run the command again, or report the mirror if it persists"
    )
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the .part


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    base, state = server
    data = _payload(seed=2)
    state["files"]["/cut.bin"] = data
    state["cut"]["/cut.bin"] = 1
    out = fetch(f"{base}/cut.bin", tmp_path / "cut.bin", sha256=_sha(data), progress=False)
    assert out.read_bytes() == data
    assert state["log"] == [("/cut.bin", None), ("/cut.bin", f"bytes={len(data) // 2}-")]


def test_resume_after_a_killed_run_and_a_server_that_ignores_range(server, tmp_path):
    base, state = server
    data = _payload(seed=3)
    state["files"]["/r.bin"] = data
    (tmp_path / "r.bin.part").write_bytes(data[:1000])
    assert fetch(f"{base}/r.bin", tmp_path / "r.bin", sha256=_sha(data), progress=False).read_bytes() == data
    assert state["log"][-1] == ("/r.bin", "bytes=1000-")
    state["ignore_range"].add("/r.bin")
    (tmp_path / "again.bin.part").write_bytes(b"garbage" * 10)
    state["files"]["/again.bin"] = data
    state["ignore_range"].add("/again.bin")
    assert fetch(f"{base}/again.bin", tmp_path / "again.bin", sha256=_sha(data), progress=False).read_bytes() == data


def test_complete_part_file_gets_416_and_is_accepted(server, tmp_path):
    base, state = server
    data = _payload(seed=4)
    state["files"]["/done.bin"] = data
    (tmp_path / "done.bin.part").write_bytes(data)
    assert fetch(f"{base}/done.bin", tmp_path / "done.bin", sha256=_sha(data), progress=False).read_bytes() == data


def test_errors_are_one_line(server, tmp_path):
    base, state = server
    with pytest.raises(DownloadError, match=r"/missing.bin: HTTP 404 Not Found; check the address or try again later$"):
        fetch(f"{base}/missing.bin", tmp_path / "m.bin", progress=False)
    state["files"]["/always.bin"] = _payload(seed=5)
    state["cut"]["/always.bin"] = 99
    with pytest.raises(DownloadError) as info:
        fetch(f"{base}/always.bin", tmp_path / "a.bin", retries=1, progress=False)
    assert "download failed (IncompleteRead) after 2 tries; check the network or proxy and run the command again; " \
        f"it resumes from {tmp_path / 'a.bin.part'}" in str(info.value)
    assert "\n" not in str(info.value)


def _images(sample_image):
    return {"a.png": sample_image[:40, :44], "b.png": sample_image[40:80, :36]}


def _png_bytes(img, tmp_path, name):
    write_image(tmp_path / name, img)
    return (tmp_path / name).read_bytes()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _targz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_archive_install_zip_and_targz(server, tmp_path, sample_image):
    base, state = server
    imgs = _images(sample_image)
    pngs = {n: _png_bytes(im, tmp_path / "src", n) for n, im in imgs.items()}
    zip_bytes = _zip({f"Foo_HR/{n}": b for n, b in pngs.items()} | {"Foo_HR/readme.txt": b"hi"})
    tgz_bytes = _targz({f"Bar_HR/{n}": b for n, b in pngs.items()})
    state["files"].update({"/foo.zip": zip_bytes, "/bar.tar.gz": tgz_bytes})
    files = [{"name": n, "pixels_sha256": hashlib.sha256(im.tobytes()).hexdigest()} for n, im in imgs.items()]
    registry = {
        "Foo": {"kind": "benchmark", "source": {"type": "archive", "url": f"{base}/foo.zip", "sha256": _sha(zip_bytes),
                                                 "hr_subdir": "Foo_HR", "count": 2}, "files": files},
        "Bar": {"kind": "benchmark", "source": {"type": "archive", "url": f"{base}/bar.tar.gz", "sha256": None,
                                                 "md5": hashlib.md5(tgz_bytes).hexdigest(), "hr_subdir": "Bar_HR"}},
    }
    root = tmp_path / "datasets"
    hr = download_dataset("foo", root, registry=registry, progress=False)
    assert hr == root / "Foo" / "HR" and sorted(p.name for p in hr.iterdir()) == ["a.png", "b.png"]
    np.testing.assert_array_equal(read_image_uint8(hr / "b.png"), imgs["b.png"])
    marker = json.loads((root / "Foo" / ".complete.json").read_text())
    assert marker["images"] == 2 and marker["check"] == "archive SHA-256 verified"
    assert sorted(p.name for p in root.iterdir()) == ["Foo"]  # downloads and staging cleaned up
    n = len(state["log"])
    download_dataset("Foo", root, registry=registry, progress=False)
    assert len(state["log"]) == n  # already complete: no request
    download_dataset("Bar", root, registry=registry, progress=False)
    check = json.loads((root / "Bar" / ".complete.json").read_text())["check"]
    assert check == f"archive MD5 verified (no published SHA-256; this copy's SHA-256 is {_sha(tgz_bytes)})"
    from spsr_lib.data.benchmark_sets import load_benchmark_set

    assert load_benchmark_set(root / "Bar").names == ["a", "b"]


def test_wrong_pixels_leave_nothing_installed(server, tmp_path, sample_image):
    base, state = server
    pngs = {n: _png_bytes(im, tmp_path / "src", n) for n, im in _images(sample_image).items()}
    state["files"]["/foo.zip"] = _zip({f"Foo_HR/{n}": b for n, b in pngs.items()})
    registry = {"Foo": {"kind": "benchmark", "source": {"type": "archive", "url": f"{base}/foo.zip", "hr_subdir": "Foo_HR"},
                        "files": [{"name": "a.png", "pixels_sha256": "0" * 64}]}}
    root = tmp_path / "datasets"
    with pytest.raises(DownloadError, match="a.png: pixels differ from the registry"):
        download_dataset("Foo", root, registry=registry, progress=False)
    assert not (root / "Foo").exists()


def test_unsafe_archive_member_is_refused(server, tmp_path):
    base, state = server
    state["files"]["/evil.zip"] = _zip({"../evil.png": b"x"})
    registry = {"Evil": {"kind": "benchmark", "source": {"type": "archive", "url": f"{base}/evil.zip"}}}
    with pytest.raises(DownloadError, match=r"unsafe path '\.\./evil\.png' inside the archive"):
        download_dataset("Evil", tmp_path / "d", registry=registry, progress=False)
    assert not (tmp_path / "evil.png").exists()


def test_real_registry_entries_from_a_local_mirror(server, tmp_path, shared_data, monkeypatch, capsys):
    """Set5 (byte-identical PNGs) and T91 (BMP originals -> PNG, pixel hashes) through the CLI."""
    import cv2

    base, state = server
    sets = load_registry()
    for entry in sets["Set5"]["files"]:
        state["files"][f"/set5/{entry['name']}"] = (shared_data / "benchmarks/Set5/HR" / entry["name"]).read_bytes()
    t91 = {"Set5": sets["Set5"], "T91": sets["T91"] | {"files": sets["T91"]["files"][:3]}}
    for entry in t91["T91"]["files"]:
        rgb = read_image_uint8(shared_data / "train/T91/HR" / entry["name"])
        state["files"][f"/t91/{entry['remote']}"] = cv2.imencode(".bmp", rgb[:, :, ::-1])[1].tobytes()
    t91["Set5"] = t91["Set5"] | {"source": {"type": "files", "base_url": f"{base}/set5/"}}
    t91["T91"]["source"] = {"type": "files", "base_url": f"{base}/t91/"}
    reg_path = tmp_path / "registry.json"
    reg_path.write_text(json.dumps({"sets": t91}))
    monkeypatch.setenv("SPSR_DATASETS_JSON", str(reg_path))
    root = tmp_path / "datasets"
    assert main(["data", "download", "Set5", "t91", "--root", str(root), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"Set5: 5 images in {root / 'Set5' / 'HR'} (verified per file" in out
    assert f"T91: 3 images in {root / 'T91' / 'HR'}" in out
    assert main(["data", "verify", "Set5", "--root", str(root)]) == 0
    # a corrupted file on the mirror: the CLI prints one line and exits 2
    state["files"]["/set5/baby.png"] = b"not the baby"
    assert main(["data", "download", "Set5", "--root", str(tmp_path / "other"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spsr data: error: baby.png: SHA-256 mismatch (expected cb85956d") and "\n" not in err
    assert not (tmp_path / "other" / "Set5").exists()


def test_registry_matches_the_shared_manifests(shared_data):
    sets = load_registry()
    for name, folder in (("Set5", "benchmarks/Set5"), ("Set14", "benchmarks/Set14"), ("BSD100", "benchmarks/BSD100"),
                         ("T91", "train/T91"), ("BSD200", "train/BSD200")):
        with open(shared_data / folder / "MANIFEST.tsv") as fh:
            manifest = {r["filename"]: r for r in csv.DictReader(fh, delimiter="\t")}
        entries = {e["name"]: e for e in sets[name]["files"]}
        assert entries.keys() == manifest.keys(), name
        for fname, e in entries.items():
            assert (e["width"], e["height"]) == (int(manifest[fname]["width"]), int(manifest[fname]["height"]))
            if e["sha256"] is not None:  # byte-identical copies of the mirror's files
                assert e["sha256"] == manifest[fname]["sha256"]
    for e in sets["Set14"]["files"]:
        assert pixels_digest(shared_data / "benchmarks/Set14/HR" / e["name"]) == e["pixels_sha256"]
    for key in ("DIV2K-train", "DIV2K-val"):
        assert len(sets[key]["source"]["sha256"]) == 64 and sets[key]["source"]["size"] > 10**8
    for spec in sets.values():
        assert spec["citation"] and spec["licence"]
