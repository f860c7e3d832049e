#!/usr/bin/env python
"""Check that the notebooks' sliders work in a real JupyterLab, driven by headless Chromium.

nbval runs the notebooks in a bare kernel, where nothing renders the widgets; this script checks the
other half: JupyterLab 4's built-in ipywidgets manager draws :func:`spsr_lib.notebook.widgets.compare_slider`,
and dragging its slider makes the kernel send a new image back.

Steps: start ``jupyter lab`` on 127.0.0.1 with a random token in a temporary folder; open a probe
notebook (or ``--notebook PATH``, run in fast mode); run all cells; screenshot the widget image;
drag the slider handle; wait for the image to change; screenshot again.  Exit 0 when the picture
changed, 1 when it did not, 2 when Chromium/chromedriver/selenium are missing.

    python scripts/check_jupyterlab_sliders.py [--notebook notebooks/01_gradient_maps.ipynb] [--out DIR]

Needs: ``apt-get install chromium chromium-driver`` (Debian) and ``pip install selenium``.
"""

from __future__ import annotations

import argparse
import io
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


def start_lab(root: Path, port: int, token: str, log) -> subprocess.Popen:
    env = dict(os.environ, SPSR_FAST="1", MPLBACKEND="Agg", PYTHONPATH=str(REPO))
    # private config, settings, workspaces and runtime: no user settings, popups or leftovers
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("JUPYTER_RUNTIME_DIR", "runtime")):
        env[var] = str(root / ".jupyter" / sub)
    # no "Jupyter news?" toast over the notebook
    news = root / ".jupyter" / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')
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


# the pixels the widget shows (its PNG at natural size), independent of the viewport and overlays
READ_IMAGE_JS = """
const img = arguments[0];
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
c.getContext('2d').drawImage(img, 0, 0);
return c.toDataURL('image/png');
"""


def _image_pixels(browser, element):
    import base64

    import numpy as np
    from PIL import Image

    url = browser.execute_script(READ_IMAGE_JS, element)
    png = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def drive(chrome: str, driver_path: str, url: str, out: Path, timeout: float) -> bool:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="spsr-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    browser = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    try:
        browser.get(url)
        wait = WebDriverWait(browser, timeout, poll_frequency=0.5)
        # the app object exists once JupyterLab has started; then wait for the kernel before running
        wait.until(lambda b: b.execute_script(
            "const a = window.jupyterapp; const w = a && a.shell.currentWidget;"
            "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
            " && w.sessionContext.session.kernel.status === 'idle');"))
        browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
        print("running all cells ...", flush=True)
        sel_img = ".jp-OutputArea-output .widget-image, .jp-OutputArea-output img.jupyter-widgets"
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle")
                   and b.find_elements(By.CSS_SELECTOR, sel_img))
        handle = browser.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle")[0]
        image = browser.find_elements(By.CSS_SELECTOR, sel_img)[0]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
        time.sleep(1.0)  # let the first PNG paint
        before_src = image.get_attribute("src")
        before = _image_pixels(browser, image)
        (out / "slider_before.png").write_bytes(image.screenshot_as_png)
        track = handle.find_element(By.XPATH, "./ancestor::*[contains(@class,'noUi-target')][1]")
        offset = -int(track.size["width"] * 0.4)  # from the middle to about 10 %
        ActionChains(browser).click_and_hold(handle).move_by_offset(offset // 2, 0).move_by_offset(
            offset - offset // 2, 0).release().perform()
        print(f"dragged the slider handle by {offset} px", flush=True)
        try:
            wait.until(lambda b: image.get_attribute("src") != before_src)
        except Exception:
            print("the widget image never changed after the drag", flush=True)
        time.sleep(1.0)
        after = _image_pixels(browser, image)
        (out / "slider_after.png").write_bytes(image.screenshot_as_png)
        if after.shape != before.shape:
            print(f"the image changed size: {before.shape} -> {after.shape}", flush=True)
            return False
        changed = float((abs(after - before) > 16).any(-1).mean())
        print(f"widget image {before.shape[1]}x{before.shape[0]} px: {changed:.1%} of the pixels changed", flush=True)
        return changed > 0.05
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebook", type=Path, help="run this notebook instead of the built-in probe (fast mode)")
    ap.add_argument("--out", type=Path, default=Path("slider_check"), help="folder for the screenshots and lab log")
    ap.add_argument("--port", type=int, default=8899)
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for kernel, cells and image")
    args = ap.parse_args(argv)

    found = find_browser()
    if isinstance(found, str):
        print(f"skip: {found}")
        return 2
    chrome, driver = found
    args.out.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    port = _free_port(args.port)
    with tempfile.TemporaryDirectory(prefix="spsr-lab-") as tmp:
        root = Path(tmp)
        if args.notebook:
            # a copy, so JupyterLab's autosave never rewrites the committed outputs; the repo's
            # data/ and configs/ are linked beside it so the notebook's relative paths still work
            (root / "notebooks").mkdir()
            shutil.copy(args.notebook, root / "notebooks" / args.notebook.name)
            for sub in ("data", "configs"):
                if (REPO / sub).exists():
                    (root / sub).symlink_to(REPO / sub)
            shared = REPO.parent / "shared" / "data"
            if shared.is_dir():
                os.environ.setdefault("SPSR_SHARED_DATA", str(shared))
            name = f"notebooks/{args.notebook.name}"
        else:
            name = _write_probe(root)
        with open(args.out / "jupyterlab.log", "wb") as log:
            lab = start_lab(root, port, token, log)
            try:
                ok = drive(chrome, driver, f"http://127.0.0.1:{port}/lab/tree/{name}?token={token}&reset",
                           args.out, args.timeout)
            finally:
                lab.terminate()
                try:
                    lab.wait(20)
                except subprocess.TimeoutExpired:
                    lab.kill()
    print(("OK: the slider changed the image" if ok else "FAIL: the image did not change") +
          f" (screenshots in {args.out})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
