"""Each training image once, however ``data.train`` reaches it (issue 26).

``data.train`` may list overlapping folders: the same folder twice, a set and its ``HR`` subfolder (both resolve to
``HR``), a symlink to a folder already listed, or a folder holding a symlink (or hard link) to another listed file.
Before, every route counted: such an image was drawn two or more times as often as the others, silently. Files are
keyed by what they are on disk, ``(st_dev, st_ino)`` after following links; the first route in ``data.train`` order
(files sorted by name within a folder) keeps the file, later ones drop it, and the training log says how many.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainFiles:
    """Per listed folder: the folder itself (nothing dropped: read as before) or its remaining files."""

    sources: list[str | list[Path]] = field(default_factory=list)
    dropped: int = 0

    def note(self) -> str:
        """The training log's line about duplicates ('' when there were none)."""
        if not self.dropped:
            return ""
        return (f"data.train: {self.dropped} duplicate image(s) dropped (the same file reached through another listed "
                "folder, a link, or a folder listed twice); each image is used once")


def unique_training_files(folders: list[str]) -> TrainFiles:
    """``folders`` (already resolved to their HR folders) with every real file kept once; see the module doc."""
    from spsr_lib.data.paired import list_images

    seen: set[tuple[int, int]] = set()
    out = TrainFiles()
    for folder in folders:
        files = list_images(folder)
        kept = []
        for path in files:
            try:
                st = os.stat(path)
            except OSError:  # vanished or a broken link: the dataset reports it when it reads the file
                kept.append(path)
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                out.dropped += 1
            else:
                seen.add(key)
                kept.append(path)
        if len(kept) == len(files):
            out.sources.append(folder)
        elif kept:
            out.sources.append(kept)
    return out
