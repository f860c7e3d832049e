"""``spsr infer INPUT... -o OUTDIR``: super-resolve files, folders and glob patterns.

Like the official ``test.py`` (SPSR_REFERENCE.md section 8) each output keeps the input's name and is
written as PNG (``<stem><suffix>.png``), but here tiles bound the memory (any image size runs), a bad
file is reported and skipped instead of stopping the run, and every file is written atomically, so
an interrupted run never leaves a half-written PNG.  Exit status: 0 when every image was written,
1 when some failed (each one named on stderr and in the closing summary), 2 for a usage problem
(no input matched, missing or unusable model file, bad --tile / --device, an -o that cannot be written: all
checked before the first image).

Edge cases, decided: a 1x1 image is processed (the network is fully convolutional; the result is a
4x4 PNG); 16-bit files are read at full precision (/65535) and written as 8-bit PNG; grayscale is
replicated to RGB; an alpha channel is dropped; these facts and an embedded colour profile (not carried
over) are each said once per run as a `note:` line on stderr; truncated, empty and non-image
files each get one error line.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path

from spsr_lib.errors import SPSRError, short_repr


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (not recursive) or globs")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the PNG results")
    parser.add_argument("--model", metavar="PATH",
                        help="generator weights (.safetensors from the kit or the authors' spsr.pth) or an ONNX "
                             "file from `spsr export` (run by onnxruntime); default: the shipped demo weights")
    parser.add_argument("--tile", default="auto", metavar="N",
                        help="tile size in LR pixels; 'auto' (default) picks it from free memory; 0 = no tiling")
    parser.add_argument("--overlap", type=int, default=16, metavar="M",
                        help="overlap between tiles in LR pixels (default 16)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--half", action="store_true", help="float16 autocast (CUDA only)")
    parser.add_argument("--bf16", action="store_true",
                        help="bfloat16 autocast + channels_last: about 3x faster on CPUs with native bf16 "
                             "(AVX512-BF16/AMX) and on recent GPUs; slightly different output")
    parser.add_argument("--save-gradients", action="store_true",
                        help="also write <name>_grad_sr.png (gradient branch) and <name>_grad_lr.png (LR map)")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="x8 self-ensemble: average the outputs of the 4 rotations x flip (8x slower)")
    parser.add_argument("--suffix", default="", help="appended to each output name, e.g. _SPSR")


def _parse_tile(value: str) -> int | str | None:
    if value == "auto":
        return "auto"
    try:
        tile = int(value)
    except ValueError:
        raise SPSRError(f"--tile {short_repr(value)} is not a number; use an integer such as 128, 0 (no tiling) or auto") from None
    return None if tile == 0 else tile


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """(image files in order, [(input, reason)] for inputs that name nothing usable)."""
    from spsr_lib.io.images import is_image_file
    from spsr_lib.io.walk import glob_files

    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and is_image_file(p) and not p.name.startswith("."))
            if not found:
                missing.append((item, "folder holds no image files (png, jpg, bmp, tif, webp)"))
            files.extend(found)
        elif path.exists():
            files.append(path)  # named explicitly: try it whatever its suffix
        elif glob.has_magic(item):
            found = [p for p in glob_files(item) if p.is_file() and is_image_file(p)]  # never loops on a symlink
            if not found:
                missing.append((item, "no image file matches this pattern"))
            files.extend(found)
        else:
            missing.append((item, "file not found; check the path"))
    seen: set[Path] = set()
    unique = [p for p in files if not (p.resolve() in seen or seen.add(p.resolve()))]
    return unique, missing


def gradient_paths(dest: Path) -> list[Path]:
    """The gradient maps ``--save-gradients`` writes beside ``dest``."""
    return [dest.with_name(f"{dest.stem}_grad_sr.png"), dest.with_name(f"{dest.stem}_grad_lr.png")]


def output_paths(files: list[Path], outdir: Path, suffix: str,
                 gradients: bool = False) -> tuple[dict[Path, Path], list[tuple[str, str]]]:
    """Output PNG per input; an input fails when any of its outputs (the image, and with ``gradients`` its two
    maps) would overwrite an input, collide with another input's outputs or replace a file spsr infer did not
    write (:mod:`spsr_lib.io.output_guard`)."""
    from spsr_lib.io.output_guard import OutputPlan, kit_png

    plan = OutputPlan(files, kit_png, "spsr infer")
    targets: dict[Path, Path] = {}
    failed: list[tuple[str, str]] = []
    for src in files:
        dest = outdir / f"{src.stem}{suffix}.png"
        problem = plan.problem(str(src), [*(gradient_paths(dest) if gradients else []), dest])
        if problem is None:
            targets[src] = dest
        else:
            fix = "rename one input" if "already the result" in problem else "use another -o or --suffix"
            failed.append((str(src), f"{problem}; {fix}"))
    return targets, failed


def _process(src: Path, dest: Path, model, args, tile) -> None:
    from spsr_lib.inference.infer import upscale
    from spsr_lib.io.images import read_image, write_image
    from spsr_lib.io.output_guard import KIT_SOFTWARE

    lr = read_image(src, as_tensor=True)
    out = upscale(lr, model, tile=tile, overlap=args.overlap, device=args.device, half=args.half, bf16=args.bf16,
                  return_gradients=args.save_gradients, progress=True, self_ensemble=args.self_ensemble)
    if args.save_gradients:
        for path, img in zip(gradient_paths(dest), (out.grad_sr, out.grad_lr)):
            write_image(path, img, software=KIT_SOFTWARE)
        out = out.sr
    write_image(dest, out, software=KIT_SOFTWARE)  # the main output last: its presence means the file is complete


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from spsr_lib.inference.infer import resolve_device
    from spsr_lib.inference.tiling import check_tile_args
    from spsr_lib.io.atomic import check_output_dir
    from spsr_lib.io.demo_weights import load_model

    tile = _parse_tile(args.tile)
    if args.overlap < 0:
        raise SPSRError(f"--overlap {args.overlap} must be 0 or more")
    if isinstance(tile, int):
        check_tile_args(tile, args.overlap)  # once, before any image: not once per image
    if args.half and args.bf16:
        raise SPSRError("--half and --bf16 pick two different autocast types; use one of them")
    device = resolve_device(args.device)
    if args.half and device.type != "cuda":
        raise SPSRError("--half (float16) needs a CUDA device; drop --half or use --device cuda on a GPU machine")
    if (args.half or args.bf16) and args.model is not None and str(args.model).lower().endswith(".onnx"):
        raise SPSRError(f"{args.model}: --half / --bf16 are PyTorch autocast and do not apply to an ONNX model; drop "
                        "them, or export with `spsr export --fp16`")
    files, failed = expand_inputs(args.inputs)
    if not files:
        reasons = "; ".join(f"{i}: {r}" for i, r in failed)
        raise SPSRError(f"no input images ({reasons}); pass image files, folders or glob patterns")
    outdir = check_output_dir(args.output, "-o")
    targets, collisions = output_paths(files, outdir, args.suffix, args.save_gradients)
    failed += collisions
    for item, reason in failed:
        print(f"spsr infer: error: {item}: {reason}", file=sys.stderr)
    model = load_model(args.model)
    if args.save_gradients and not (hasattr(model, "grad_branch") or getattr(model, "has_grad_sr", False)):
        raise SPSRError(f"{args.model}: a {type(model).__name__} has no gradient branch, so --save-gradients has "
                        "nothing to write; drop --save-gradients or pass an SPSR generator")

    written = 0
    start = time.perf_counter()
    bar = tqdm(list(targets.items()), desc="spsr infer", unit="img", file=sys.stderr, disable=None)
    for src, dest in bar:
        bar.set_postfix_str(src.name, refresh=False)
        try:
            _process(src, dest, model, args, tile)
            written += 1
        except SPSRError as exc:
            msg = str(exc) if str(src) in str(exc) else f"{src}: {exc}"
            failed.append((str(src), msg))
            tqdm.write(f"spsr infer: error: {msg}", file=sys.stderr)
        except (RuntimeError, MemoryError, OSError) as exc:  # e.g. out of memory: report, go on
            if os.environ.get("SPSR_DEBUG"):
                raise
            msg = f"{src}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            hint = "; try a smaller --tile" if isinstance(exc, (MemoryError, RuntimeError)) else ""
            failed.append((str(src), msg + hint))
            tqdm.write(f"spsr infer: error: {msg}{hint}", file=sys.stderr)
    bar.close()
    total = written + len(failed)
    print(f"spsr infer: wrote {written} of {total} image(s) to {outdir} in {time.perf_counter() - start:.1f} s")
    if failed:
        print(f"spsr infer: {len(failed)} failed: " + ", ".join(item for item, _ in failed), file=sys.stderr)
        return 1
    return 0
