"""Helpers shared by the network tests."""

import torch

from spk2vid_model.model import ModelConfig, Spk2VidNet


def trained_looking(config: ModelConfig, seed: int = 0) -> Spk2VidNet:
    """A network whose zero-initialised layers (offsets, output) have moved, as after training."""
    torch.manual_seed(seed)
    net = Spk2VidNet(config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net
