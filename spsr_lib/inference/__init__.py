"""inference: running a trained generator.

``infer`` (``upscale``: tiled, any size, bf16), ``tiling`` (tile grid and blending), ``demo`` (the
``spsr demo`` report), ``evaluate`` (paper-style metric tables, ``spsr evaluate``), ``self_ensemble``
(x8 flips/rotations).
May import: ``spsr_lib.metrics``, ``spsr_lib.losses``, ``spsr_lib.data``, ``spsr_lib.io``,
``spsr_lib.models``, ``spsr_lib.ops`` and the base modules; never ``spsr_lib.train``.
"""
