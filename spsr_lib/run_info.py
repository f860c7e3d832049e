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


def run_info(fast: bool | None = None) -> str:
    """``"spsr-kit 0.1.0 | torch 2.14.1 | fast mode | AMD EPYC, 2 CPU cores, 1 threads | no GPU"``.

    ``fast`` names the notebooks' ``SPSR_FAST`` mode; None leaves the mode out.
    """
    import torch

    from spsr_lib.version import __version__

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    mode = "" if fast is None else f" | {'fast' if fast else 'full'} mode"
    return (f"spsr-kit {__version__} | torch {torch.__version__}{mode} | {cpu_name()}, {os.cpu_count()} CPU cores, "
            f"{torch.get_num_threads()} threads | {gpu}")


def process_status_kb(field: str) -> int:
    """A kB field of ``/proc/self/status`` (Linux), e.g. ``VmRSS`` (resident now) or ``VmHWM`` (peak resident)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")
