"""Helpers shared by the network tests: the one tiny configuration, and weights that look trained."""

from dataclasses import replace

import torch

from spk2vid_model.model import CONFIGS, ModelConfig, Spk2VidNet

# The tiny network of every test: the real block window and all the architecture's parts (MFCA with
# K=2 and 2 deformable groups, CMF with 2 dilations, direct pixel-shuffle upsampling), 8 channels,
# no residual blocks. Tests that need more derive from it with `replace` and say why.
TINY = replace(CONFIGS["x2"], name="tiny", channels=8, extract_blocks=0, fusion_blocks=0, deform_groups=2,
               cmf_channels=4, cmf_dilations=(1, 2), upsampler="direct")


def trained_looking(config: ModelConfig, seed: int = 0) -> Spk2VidNet:
    """A network whose zero-initialised layers (offsets, output) have moved, as after training."""
    torch.manual_seed(seed)
    net = Spk2VidNet(config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net
