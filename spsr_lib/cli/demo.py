"""``spsr demo``: super-resolve sample photos with the demo weights and write an HTML report.

With no arguments it uses scikit-image's astronaut, chelsea, coffee and rocket photos (HR centre
crops; LR by MATLAB-exact bicubic), the shipped demo weights, and writes ``./spsr_demo_report/``.
``--model spsr.pth`` uses the authors' weights; ``--image PATH`` runs on one's own photos, treated
as HR (so the report can score SR against them); ``--lr-input`` treats them as real low-resolution
photos instead (no HR, no metrics).  See :mod:`spsr_lib.inference.demo`.
"""

from __future__ import annotations

import argparse
import time

DEMO_NOTE = ("Small demo weights trained with this kit (see data/demo_weights/MODEL_CARD.md in the repository); "
             "they are not the paper's model.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="PATH",
                        help="generator weights (kit .safetensors or the authors' spsr.pth); default: demo weights")
    parser.add_argument("--image", action="append", metavar="PATH",
                        help="your own photo (repeatable); treated as HR: cropped, downscaled x4, super-resolved, scored")
    parser.add_argument("--lr-input", action="store_true",
                        help="treat --image files as real low-resolution inputs (no HR, so no metrics)")
    parser.add_argument("--out", default="spsr_demo_report", metavar="DIR",
                        help="report folder (default %(default)s); a file there that no earlier demo run wrote is "
                             "never overwritten (the demo refuses)")
    parser.add_argument("--size", type=int, default=256, metavar="N",
                        help="HR centre-crop size in px (default %(default)s; 0 = whole image, slow on a CPU)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")


def run(args: argparse.Namespace) -> int:
    from spsr_lib.errors import SPSRError
    from spsr_lib.inference.demo import min_hr_size, run_demo, sample_images, user_images
    from spsr_lib.io.atomic import check_output_dir
    from spsr_lib.io.demo_weights import load_model, resolve_model_path

    if args.lr_input and not args.image:
        raise SPSRError("--lr-input needs at least one --image PATH (the low-resolution photo)")
    if args.size < 0:
        raise SPSRError(f"--size {args.size} must be 0 (whole image) or a positive number of pixels")
    check_output_dir(args.out, "--out")  # before the model and the images; run_demo also refuses to overwrite
    start = time.perf_counter()
    path = resolve_model_path(args.model)
    model = load_model(path)
    scale = int(getattr(model, "scale", 4))
    size = args.size or None
    if size is not None and size < scale:
        raise SPSRError(f"--size {size} is smaller than the x{scale} scale; use e.g. --size 256")
    if size is not None and size < min_hr_size(scale) and not args.lr_input:
        raise SPSRError(f"--size {size} is too small to score at x{scale} (SSIM needs {min_hr_size(scale)} px); "
                        "use e.g. --size 256")
    images = (user_images(args.image, scale, size, args.lr_input) if args.image
              else sample_images(scale, size))
    note = DEMO_NOTE if args.model is None else ""
    print(f"spsr demo: {len(images)} image(s), model {path}")
    index = run_demo(model, images, args.out, device=args.device, model_name=str(path), model_note=note)
    print(f"spsr demo: report written in {time.perf_counter() - start:.1f} s: {index}")
    return 0
