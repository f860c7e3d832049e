"""ops: the exact building blocks, no learnable architecture of their own.

``gradient`` (``gradient_map``, ``GradientMap``: the paper's gradient operator), ``imresize`` (MATLAB-exact
bicubic, uint8 bit-exact), ``blocks`` (conv blocks, ``ResidualDenseBlock``, ``RRDB``, ``Upconv``, init).
May import: ``spsr_lib.errors`` / ``spsr_lib.version`` only.
"""
