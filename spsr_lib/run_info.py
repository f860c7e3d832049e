"""One line saying which software and hardware produced a result (notebook headers, benchmark JSON, reports),
and the process memory readings the benchmarks quote.

Results in this kit are quoted with the machine that made them; this keeps that line identical everywhere.
"""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``'s "model name"), else what :mod:`platform` reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


MODES = ("fast", "laptop", "full")


def notebook_mode(environ=None) -> str:
    """The notebooks' mode from the environment: ``SPSR_FAST=1`` "fast" (CI, seconds), ``SPSR_FULL=1`` "full"
    (the heavy paths: the paper's config, the full ablation), else "laptop" (the default: real-size images in
    minutes on a 2-core CPU). Fast wins when both are set."""
    env = os.environ if environ is None else environ
    return "fast" if env.get("SPSR_FAST") else "full" if env.get("SPSR_FULL") else "laptop"


def run_info(fast: bool | None = None, mode: str | None = None) -> str:
    """``"spsr-kit 0.1.0 | torch 2.14.1 | laptop mode | AMD EPYC, 2 CPU cores, 2 threads | no GPU"``.

    ``mode`` names the notebooks' mode (:data:`MODES`); ``fast`` is the older spelling (True: "fast", False:
    "full"). Neither leaves the mode out.
    """
    import torch

    from spsr_lib.version import __version__

    if mode is None and fast is not None:
        mode = "fast" if fast else "full"
    if mode is not None and mode not in MODES:
        raise ValueError(f"run_info: mode must be one of {', '.join(MODES)}, got {mode!r}")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    shown = "" if mode is None else f" | {mode} mode"
    return (f"spsr-kit {__version__} | torch {torch.__version__}{shown} | {cpu_name()}, {os.cpu_count()} CPU cores, "
            f"{torch.get_num_threads()} threads | {gpu}")


def process_status_kb(field: str) -> int:
    """A kB field of ``/proc/self/status`` (Linux), e.g. ``VmRSS`` (resident now) or ``VmHWM`` (peak resident)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")
