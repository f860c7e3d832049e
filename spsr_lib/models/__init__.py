"""models: the paper's networks as ``nn.Module`` s, knowing nothing about files.

``rrdb`` (``RRDBNet``, ESRGAN), ``spsr_net`` (``SPSRNet``, ``SPSROutput``), ``guidance`` (``GradientGuidedSR``,
``SRResNet``), ``discriminator`` (``VGGDiscriminator``). Loading checkpoints into them lives in
:mod:`spsr_lib.io.checkpoint`.
May import: ``spsr_lib.ops`` and the base modules (``errors``, ``version``).
"""
