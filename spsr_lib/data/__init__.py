"""data: datasets for training and evaluation.

``paired`` (``PairedImageDataset``, modcrop, augmentation, sub-image preparation), ``benchmark_sets``
(``load_benchmark_set``: Set5/Set14/BSD100/... HR + MATLAB-bicubic LR), ``download`` (download, verify,
prepare).
May import: ``spsr_lib.io``, ``spsr_lib.models``, ``spsr_lib.ops`` and the base modules.
"""
