"""BasicSR's ESRGAN training step (``ESRGANModel.optimize_parameters``), set up like the kit's ablation (b).

For ``bench_train_step_peers.py``: RRDBNet nf 64 / nb 23 / gc 32, ``VGGStyleDiscriminator`` nf 64, L1 1e-2 +
VGG19 conv5_4 perceptual 1 + relativistic GAN 5e-3, Adam lr 1e-4, EMA 0.999, fp32 (BasicSR has no AMP). The
``basicsr`` package (PyPI 1.4.2, an sdist) must be importable, e.g. from a separate virtualenv that also sees the
kit's torch; two shims make it import and build offline: ``torchvision.transforms.functional_tensor`` (removed
from torchvision, imported by ``basicsr.data.degradations``) is aliased to ``functional``, and its VGG19 is built
with RANDOM weights (its ImageNet file is not on this machine; same layers, same time).

    peer = BasicSRStep(tmp_dir)          # raises ImportError when basicsr is not installed
    peer.step += 1; peer.train_step(lr, hr)
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor


def import_basicsr() -> str:
    """Import basicsr with the two shims; returns its version (ImportError when it is not installed)."""
    import torchvision
    import torchvision.transforms.functional as tf

    sys.modules.setdefault("torchvision.transforms.functional_tensor", tf)
    import basicsr
    from basicsr.archs import vgg_arch

    vgg_arch.vgg.vgg19 = lambda pretrained=False, **kw: torchvision.models.vgg19(weights=None)
    return basicsr.__version__


class BasicSRStep:
    """Looks like the kit's Trainer to ``bench_train_step.one_step``: ``step``, ``train_step``, ``to_model_layout``."""

    def __init__(self, tmp_dir: str, nf: int = 64, nb: int = 23, gc: int = 32, nf_d: int = 64) -> None:
        self.version = import_basicsr()
        from basicsr.models.esrgan_model import ESRGANModel

        adam = {"type": "Adam", "lr": 1e-4, "weight_decay": 0, "betas": [0.9, 0.99]}
        opt = {
            "is_train": True, "dist": False, "num_gpu": 0, "rank": 0, "world_size": 1,
            "path": {"pretrain_network_g": None, "resume_state": None, "models": tmp_dir,
                     "training_states": tmp_dir},
            "network_g": {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": nf, "num_block": nb,
                          "num_grow_ch": gc},
            "network_d": {"type": "VGGStyleDiscriminator", "num_in_ch": 3, "num_feat": nf_d},
            "train": {
                "ema_decay": 0.999, "optim_g": dict(adam), "optim_d": dict(adam),
                "scheduler": {"type": "MultiStepLR", "milestones": [50_000], "gamma": 0.5},
                "total_iter": 400_000, "warmup_iter": -1, "net_d_iters": 1, "net_d_init_iters": 0,
                "pixel_opt": {"type": "L1Loss", "loss_weight": 1e-2, "reduction": "mean"},
                "perceptual_opt": {"type": "PerceptualLoss", "layer_weights": {"conv5_4": 1}, "vgg_type": "vgg19",
                                   "use_input_norm": True, "range_norm": False, "perceptual_weight": 1.0,
                                   "style_weight": 0, "criterion": "l1"},
                "gan_opt": {"type": "GANLoss", "gan_type": "vanilla", "real_label_val": 1.0,
                            "fake_label_val": 0.0, "loss_weight": 5e-3},
            },
        }
        self.model = ESRGANModel(opt)
        self.step = 0

    def to_model_layout(self, x: Tensor) -> Tensor:
        return x

    def train_step(self, lr: Tensor, hr: Tensor) -> None:
        self.model.feed_data({"lq": lr, "gt": hr})
        self.model.optimize_parameters(self.step)
        self.model.update_learning_rate(self.step, warmup_iter=-1)


if __name__ == "__main__":  # a smoke run: python benchmarks/peer_basicsr.py
    import tempfile
    import time

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        peer = BasicSRStep(tmp, 16, 2, 8, 16)
        hr = torch.rand(2, 3, 128, 128)
        for _ in range(2):
            peer.step += 1
            t0 = time.perf_counter()
            peer.train_step(torch.nn.functional.avg_pool2d(hr, 4), hr)
            print(f"basicsr {peer.version} step {peer.step}: {time.perf_counter() - t0:.2f} s", peer.model.log_dict)
