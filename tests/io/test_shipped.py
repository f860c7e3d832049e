"""spsr_lib/io/shipped.py: the shipped files are found in the checkout (a wheel install is tests/test_packaging.py)."""

from __future__ import annotations

from pathlib import Path

from spsr_lib.io import shipped
from spsr_lib.io.demo_weights import (
    DEMO_WEIGHTS_NAME,
    default_demo_weights_path,
    demo_weights_file,
    model_card_path,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_reads_its_data_folder():
    # the checkout holds no spsr_lib/_data/: only the build puts the files into the package
    assert not (REPO_ROOT / "spsr_lib" / shipped.PACKAGE_DATA).exists()
    assert shipped.packaged_resource("datasets.json") is None
    assert shipped.shipped_path("datasets.json") == REPO_ROOT / "data" / "datasets.json"
    assert model_card_path() == REPO_ROOT / "data" / "demo_weights" / "MODEL_CARD.md"
    assert model_card_path().is_file()
    assert demo_weights_file(DEMO_WEIGHTS_NAME) == REPO_ROOT / "data" / "demo_weights" / DEMO_WEIGHTS_NAME


def test_a_missing_file_names_where_it_was_expected():
    assert shipped.shipped_path("demo_weights/absent.safetensors") == REPO_ROOT / "data" / "demo_weights" / "absent.safetensors"


def test_the_environment_variable_still_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("SPSR_DEMO_WEIGHTS", str(tmp_path / "mine.safetensors"))
    assert default_demo_weights_path() == tmp_path / "mine.safetensors"


def test_the_model_card_names_the_sha256_of_every_shipped_weight_file():
    import hashlib
    import re

    card = model_card_path().read_text()
    files = sorted(model_card_path().parent.glob("*.safetensors"))
    assert files
    for f in files:
        rows = [line for line in card.splitlines() if line.startswith("|") and f"`{f.name}`" in line]
        assert rows, f"{f.name} has no row in the model card"
        assert hashlib.sha256(f.read_bytes()).hexdigest() in re.findall(r"[0-9a-f]{64}", rows[0]), f.name
