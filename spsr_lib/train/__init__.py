"""train: the training job, stage 1 (PSNR) and stage 2 (SPSR GAN).

``config`` (dataclass configs from YAML), ``trainer`` (``Trainer``), ``trainer_view`` (what a step needs of a
trainer), ``step`` (one eager step), ``graph_step`` (the step as one CUDA graph), ``state`` (resumable
training states), ``log`` (metrics.jsonl / TensorBoard), ``data`` (train set, validation), ``distributed``
(torchrun), ``ema``, ``warm_start`` (``train.pretrained``, ``train.fusion_init``).
May import: every layer below it (``inference``, ``metrics``, ``losses``, ``data``, ``io``, ``models``,
``ops``, base).
"""
