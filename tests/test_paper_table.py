"""The paper's Table 1 as kit data agrees with the spec's copy (../shared/spec/SPSR_REFERENCE.md §14) cell by cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from spsr_lib.metrics.paper_table import SETS, paper_table1

SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "SPSR_REFERENCE.md"


def _spec_rows(text: str, header: str) -> dict[str, list[tuple[float, float]]]:
    block = text.split(header, 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = [tuple(float(v) for v in c.split("/")) for c in cells[1:]]
    return rows


@pytest.mark.skipif(not SPEC.is_file(), reason="needs ../shared/spec (the developers' copy of the reference)")
def test_table_matches_the_reference_copy() -> None:
    text = SPEC.read_text(encoding="utf-8")
    section = text.split("## 14.", 1)[1]
    pi_lpips = _spec_rows(section, "PI / LPIPS (lower is better):")
    psnr_ssim = _spec_rows(section, "PSNR / SSIM (the SPSR/PIRM MATLAB protocol")
    table = paper_table1()
    assert set(table) == set(pi_lpips) == set(psnr_ssim)
    for method, per_set in table.items():
        for i, s in enumerate(SETS):
            assert (per_set[s]["pi"], per_set[s]["lpips"]) == pi_lpips[method][i], (method, s)
            assert (per_set[s]["psnr"], per_set[s]["ssim"]) == psnr_ssim[method][i], (method, s)


def test_spsr_beats_esrgan_on_lpips_everywhere_as_published() -> None:
    table = paper_table1()
    assert all(table["SPSR"][s]["lpips"] < table["ESRGAN"][s]["lpips"] for s in SETS)
