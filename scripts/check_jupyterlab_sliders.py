#!/usr/bin/env python
"""Check the notebooks' sliders in a real JupyterLab, driven by headless Chromium.

nbval runs the notebooks in a bare kernel, where nothing renders the widgets; this script checks the
other half, in JupyterLab 4 with its built-in ipywidgets manager:

1. **static** (the committed files, never run): every notebook is opened as a reader opens it, without
   running a cell; every widget output must render as a widget from the widget state stored in the file
   (sliders and an image, not a text repr such as ``VBox(children=...``), no cell may show an error, and a
   screenshot of each notebook's first slider is saved (``<notebook>.png``).
2. **live** (fast mode, ``SPSR_FAST=1``): 00 and 01 are run from the top, the slider handle is dragged and
   the picture must change (``<notebook>_before.png`` / ``_after.png``).

JupyterLab renders widget outputs (an "unsafe" MIME type) only in a trusted notebook, so the copies are
trusted first (``jupyter trust``, in this script's private Jupyter folders), as ``make lab`` does for the
checkout; ``--untrusted`` shows what an untrusted notebook looks like instead (the text repr).

Everything runs on 127.0.0.1 with a random token, in a temporary folder holding copies of the notebooks
(JupyterLab's autosave never touches the committed files). Exit 0 when every check passed, 1 when one
failed, 2 when Chromium/chromedriver/selenium are missing.

    python scripts/check_jupyterlab_sliders.py [--out DIR]             # static: all six, live: 00 and 01
    python scripts/check_jupyterlab_sliders.py --static-only notebooks/03_loss_ablations.ipynb
    python scripts/check_jupyterlab_sliders.py --probe                 # a built-in two-cell slider only

Screenshots and the JupyterLab log go to ``--out`` (default: ``$TMPDIR/spsr_jupyterlab_check``, outside
the repository). Needs ``apt-get install chromium chromium-driver`` (Debian) and ``pip install selenium``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
LIVE = ("00_quickstart", "01_gradient_maps")  # run in fast mode, slider dragged
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
DEFAULT_OUT = Path(tempfile.gettempdir()) / "spsr_jupyterlab_check"
CHROME_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1800"]

PROBE_CELLS = [
    "import numpy as np\nfrom skimage import data\nfrom spsr_lib.notebook.widgets import compare_slider",
    "img = data.astronaut()[::2, ::2]\n"
    "slider = compare_slider({'photo': img, 'inverted': 255 - img}, position=0.5)\nslider",
]


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or the reason they cannot be used."""
    chrome = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if not chrome or not driver:
        return "chromium and chromedriver not installed (Debian: apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install selenium)"
    return chrome, driver


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise RuntimeError("no free port")


def _write_probe(folder: Path) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in PROBE_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "slider_probe.ipynb")
    return "slider_probe.ipynb"


def _settings(root: Path) -> None:
    """Private JupyterLab settings: no news toast over the notebook; every cell in the DOM (no windowing)."""
    base = root / ".jupyter" / "settings" / "@jupyterlab"
    for rel, value in (("apputils-extension/notification.jupyterlab-settings",
                        {"fetchNews": "false", "checkForUpdates": False}),
                       ("notebook-extension/tracker.jupyterlab-settings", {"windowingMode": "none"})):
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(json.dumps(value))


def _lab_env(root: Path) -> dict:
    env = dict(os.environ, SPSR_FAST="1", MPLBACKEND="Agg", PYTHONPATH=str(REPO))
    env.pop("SPSR_FULL", None)
    # private config, data (the trust database), settings, workspaces and runtime: no user state or leftovers
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                     ("JUPYTER_RUNTIME_DIR", "runtime")):
        env[var] = str(root / ".jupyter" / sub)
    return env


def trust(root: Path, notebooks: list[Path]) -> None:
    """``jupyter trust`` the copies, in the private data folder (what a reader does once for a checkout)."""
    subprocess.run([sys.executable, "-m", "jupyter", "trust", *map(str, notebooks)], env=_lab_env(root),
                   check=True, capture_output=True)


def start_lab(root: Path, port: int, token: str, log) -> subprocess.Popen:
    env = _lab_env(root)
    _settings(root)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI often run as root
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("jupyter lab did not answer within 120 s")


def _shutdown_kernels(port: int, token: str) -> None:
    """Stop every kernel the lab started (opening a notebook starts one; none of them runs a cell)."""
    base = f"http://127.0.0.1:{port}/api/kernels"
    try:
        with urllib.request.urlopen(f"{base}?token={token}", timeout=5) as r:
            kernels = json.load(r)
        for k in kernels:
            req = urllib.request.Request(f"{base}/{k['id']}?token={token}", method="DELETE")
            urllib.request.urlopen(req, timeout=10).close()
    except OSError:
        pass


# the pixels the widget shows (its PNG at natural size), independent of the viewport and overlays
READ_IMAGE_JS = """
const img = arguments[0];
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
c.getContext('2d').drawImage(img, 0, 0);
return c.toDataURL('image/png');
"""

# what the open notebook shows: every output of every code cell, from JupyterLab's own models and DOM
OUTPUTS_JS = """
const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!nb || !nb.context || !nb.context.isReady || !nb.content) return null;
const res = {cells: nb.content.widgets.length, widgets: [], errors: []};
nb.content.widgets.forEach((cell, ci) => {
  if (cell.model.type !== 'code') return;
  const area = cell.outputArea;
  for (let i = 0; i < area.model.length; i++) {
    const m = area.model.get(i);
    const child = area.widgets[i];
    const node = child ? child.node : null;
    const text = node ? node.innerText : '';
    const stderr = m.type === 'stream' && m.toJSON().name === 'stderr';
    if (m.type === 'error' || (stderr && /Traceback|Error:/.test(text)))
      res.errors.push({cell: ci, text: text.slice(0, 200)});
    if (m.data && m.data['""" + WIDGET_VIEW + """']) {
      const imgs = node ? Array.from(node.querySelectorAll('img')) : [];
      res.widgets.push({cell: ci, trusted: m.trusted,
        sliders: node ? node.querySelectorAll('.widget-slider').length : 0,
        image: Math.max(0, ...imgs.map(x => x.complete ? x.naturalWidth : 0)),
        text: text.slice(0, 160)});
    }
  }
});
return res;
"""


def _image_pixels(browser, element):
    import base64

    import numpy as np
    from PIL import Image

    url = browser.execute_script(READ_IMAGE_JS, element)
    png = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def open_browser(chrome: str, driver_path: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="spsr-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=opts), profile


def _rendered(w: dict) -> bool:
    return w["sliders"] > 0 and w["image"] > 0 and "children=" not in w["text"]


def check_static(browser, url: str, name: str, expected: int, out: Path, timeout: float) -> list[str]:
    """Open a committed notebook without running it; the problems found (empty: passed)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    state = {}

    def settled(b):  # every widget output drawn, or the page stopped changing for a few polls
        res = b.execute_script(OUTPUTS_JS)
        if res is None or len(res["widgets"]) < expected:
            return False
        key = json.dumps(res, sort_keys=True)
        state["stable"] = state.get("stable", 0) + 1 if key == state.get("key") else 0
        state["key"], state["res"] = key, res
        return all(_rendered(w) for w in res["widgets"]) or state["stable"] >= 6

    try:
        WebDriverWait(browser, timeout, poll_frequency=0.5).until(settled)
    except Exception:
        pass
    res = state.get("res") or browser.execute_script(OUTPUTS_JS) or {"widgets": [], "errors": [], "cells": 0}
    problems = []
    if len(res["widgets"]) != expected:
        problems.append(f"{len(res['widgets'])} widget outputs shown, the file has {expected}")
    for w in res["widgets"]:
        if not _rendered(w):
            problems.append(f"cell {w['cell']}: widget not drawn (trusted {w['trusted']}, {w['sliders']} sliders, "
                            f"image {w['image']} px wide): {w['text'][:100]!r}")
    for e in res["errors"]:
        problems.append(f"cell {e['cell']}: error output: {e['text'][:120]!r}")
    time.sleep(1.0)  # let the images paint
    targets = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-slider")
    if targets:
        browser.execute_script("arguments[0].closest('.jp-OutputArea-child').scrollIntoView({block: 'start'});",
                               targets[0])
        time.sleep(0.5)
    browser.save_screenshot(str(out / f"{name}.png"))
    ok = not problems
    drawn = sum(_rendered(w) for w in res["widgets"])
    print(f"static {name}: {res['cells']} cells, {drawn}/{expected} widget outputs drawn as widgets, "
          f"{len(res['errors'])} errors -> {'ok' if ok else 'FAIL'} ({out / (name + '.png')})", flush=True)
    for line in problems:
        print(f"  {line}", flush=True)
    return problems


def check_live(browser, url: str, name: str, out: Path, timeout: float) -> bool:
    """Run a notebook from the top (fast mode), drag its first slider, and check the picture changes."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    wait = WebDriverWait(browser, timeout, poll_frequency=0.5)
    idle = ("const a = window.jupyterapp; const w = a && a.shell.currentWidget;"
            "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
            " && w.sessionContext.session.kernel.status === 'idle');")
    wait.until(lambda b: b.execute_script(idle))
    # the stored outputs (and their widgets) go first, so what is found below is what this run drew
    browser.execute_script("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');")
    wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output"))
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    t0 = time.time()
    print(f"live {name}: running all cells (fast mode) ...", flush=True)
    sel_img = ".jp-OutputArea-output .widget-image, .jp-OutputArea-output img.jupyter-widgets"
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle")
               and b.find_elements(By.CSS_SELECTOR, sel_img))
    wait.until(lambda b: b.execute_script(idle))
    res = browser.execute_script(OUTPUTS_JS) or {"errors": []}
    if res["errors"]:
        print(f"live {name}: error outputs: {res['errors'][:2]}", flush=True)
        return False
    print(f"live {name}: all cells ran in {time.time() - t0:.0f} s", flush=True)
    handle = browser.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle")[0]
    image = browser.find_elements(By.CSS_SELECTOR, sel_img)[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    time.sleep(1.0)  # let the first PNG paint
    before_src = image.get_attribute("src")
    before = _image_pixels(browser, image)
    (out / f"{name}_before.png").write_bytes(image.screenshot_as_png)
    track = handle.find_element(By.XPATH, "./ancestor::*[contains(@class,'noUi-target')][1]")
    offset = -int(track.size["width"] * 0.4)  # from the middle to about 10 %
    ActionChains(browser).click_and_hold(handle).move_by_offset(offset // 2, 0).move_by_offset(
        offset - offset // 2, 0).release().perform()
    print(f"live {name}: dragged the slider handle by {offset} px", flush=True)
    try:
        wait.until(lambda b: image.get_attribute("src") != before_src)
    except Exception:
        print(f"live {name}: the widget image never changed after the drag", flush=True)
    time.sleep(1.0)
    after = _image_pixels(browser, image)
    (out / f"{name}_after.png").write_bytes(image.screenshot_as_png)
    if after.shape != before.shape:
        print(f"live {name}: the image changed size: {before.shape} -> {after.shape}", flush=True)
        return False
    changed = float((abs(after - before) > 16).any(-1).mean())
    ok = changed > 0.05
    print(f"live {name}: widget image {before.shape[1]}x{before.shape[0]} px, {changed:.1%} of the pixels changed "
          f"-> {'ok' if ok else 'FAIL'}", flush=True)
    return ok


def _expected_widgets(path: Path) -> int:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return sum(WIDGET_VIEW in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="committed notebooks (default: notebooks/NN_*.ipynb)")
    ap.add_argument("--static-only", action="store_true", help="only open the committed notebooks (no live run)")
    ap.add_argument("--live-only", action="store_true", help="only run and drag (00 and 01, or --notebook)")
    ap.add_argument("--notebook", type=Path, action="append", help="run this notebook live (repeatable)")
    ap.add_argument("--probe", action="store_true", help="only the built-in two-cell probe, run live")
    ap.add_argument("--untrusted", action="store_true", help="do not trust the copies (shows the text repr)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"screenshots and lab log (default {DEFAULT_OUT})")
    ap.add_argument("--port", type=int, default=8899)
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for kernel, cells and image")
    args = ap.parse_args(argv)

    found = find_browser()
    if isinstance(found, str):
        print(f"skip: {found}")
        return 2
    chrome, driver = found
    committed = args.notebooks or sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
    static = [] if (args.probe or args.live_only or args.notebook) else committed
    live = [] if (args.probe or args.static_only) else (args.notebook or [NB_DIR / f"{n}.ipynb" for n in LIVE])
    args.out.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    port = _free_port(args.port)
    failures = []
    with tempfile.TemporaryDirectory(prefix="spsr-lab-") as tmp:
        root = Path(tmp)
        # copies, so JupyterLab's autosave never rewrites the committed outputs; the repo's data/ and configs/
        # are linked beside them so the notebooks' relative paths still work
        (root / "notebooks").mkdir()
        for path in {*static, *live}:
            shutil.copy(path, root / "notebooks" / path.name)
        for sub in ("data", "configs"):
            if (REPO / sub).exists():
                (root / sub).symlink_to(REPO / sub)
        shared = REPO.parent / "shared" / "data"
        if shared.is_dir():
            os.environ.setdefault("SPSR_SHARED_DATA", str(shared))
        if static and not args.untrusted:
            trust(root, [root / "notebooks" / p.name for p in static])
        probe = _write_probe(root) if args.probe else None
        with open(args.out / "jupyterlab.log", "wb") as log:
            lab = start_lab(root, port, token, log)
            browser, profile = open_browser(chrome, driver)
            try:
                lab_url = f"http://127.0.0.1:{port}/lab/tree/{{}}?token={token}&reset"
                for path in static:
                    problems = check_static(browser, lab_url.format(f"notebooks/{path.name}"), path.stem,
                                            _expected_widgets(path), args.out, min(args.timeout, 120))
                    failures += [f"static {path.stem}: {p}" for p in problems]
                    _shutdown_kernels(port, token)
                for path in live:
                    if not check_live(browser, lab_url.format(f"notebooks/{path.name}"), path.stem, args.out,
                                      args.timeout):
                        failures.append(f"live {path.stem}: the slider did not change the image")
                    _shutdown_kernels(port, token)
                if probe and not check_live(browser, lab_url.format(probe), "slider", args.out, args.timeout):
                    failures.append("probe: the slider did not change the image")
            finally:
                browser.quit()
                shutil.rmtree(profile, ignore_errors=True)
                lab.terminate()
                try:
                    lab.wait(20)
                except subprocess.TimeoutExpired:
                    lab.kill()
    checked = [f"{len(static)} notebooks opened"] * bool(static) + [f"{len(live)} run and dragged"] * bool(live)
    checked += ["the probe run and dragged"] * bool(probe)
    if failures:
        print(f"FAIL: {len(failures)} problems ({', '.join(checked)}; screenshots in {args.out})")
        return 1
    done = ["every widget drawn from the stored state, no errors"] * bool(static)
    done += ["the sliders moved the images"] * bool(live or probe)
    print(f"OK: {', '.join(checked)}: {'; '.join(done)} (screenshots in {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
