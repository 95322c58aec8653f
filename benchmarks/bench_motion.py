"""Motion benchmark (not a test): how reconstruction quality falls with scene speed.

Run it where spk2vid is installed (`pip install -e .`):

    python benchmarks/bench_motion.py [--images A.png B.png] [--scale 1] [--weights W.pt ...]
        [--speeds 0 0.05 0.1 0.15 0.2 0.3] [--run-up 1 3 14] [--lens-blur 0] [--tell] [--truth-offset 0] [--json]

Each image (default: the two REDS_BASE ground-truth frames in ../shared, grey) slides sideways at a
constant speed, in sensor pixels per spike frame, past an ideal integrate-and-fire sensor (rate 0.6,
no noise, random initial charge, seed 0). The slide is an exact sub-pixel shift (the image wraps
round; see `fourier_shift`). At `--scale` N the image is the ground truth and the sensor sees it
area-downscaled by N, and with `--lens-blur` S through a Gaussian lens blur of sigma S sensor pixels
(REDS_BASE's spikes see its ground truth about as with 0.5); `--tell` adds a "NAME told" column for
each network that takes the blur (x1-lite), told S. The ground truth is the image itself at spike
frame 150. Each network runs from `run-up` blocks before that frame (blocks of its window every 10
frames, state carried over), so the table shows both how one block suffers from motion inside it and
how much the recurrent history adds. TFP21 / TFP41 (bicubic at xN) look at frame 150 only; "TFP281
along the motion" averages the 281 frames around it, each first moved back by the known motion
(`along_the_motion`). At xN an "oracle" column upsamples the sensor's sharp, noise-free view at
frame 150 (bicubic): what a perfect denoiser without super-resolution would score. PSNR in dB, mean
over the images, of intensity = output / 0.6 clipped to [0, 1]. `--truth-offset D` scores every
method against the scene D spike frames after frame 150 instead (REDS_BASE's ground truth lies half
a frame after its middle frame: D = 0.5 shows what that costs a method that reads frame 150).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from spk2vid_cli.classical import TFP, bicubic
from spk2vid_cli.net import NetReconstructor
from spk2vid_cli.simulate import area_downscale, integrate_and_fire, lens_blur
from spk2vid_cli.training.evaluate import read_gt_image
from spk2vid_cli.training.metrics import psnr
from spk2vid_cli.windows import Block
from spk2vid_model.geometry import CLASSICAL_WINDOW, STRIDE
from spk2vid_model.weights import bundled_weights, load_config

REPO = Path(__file__).resolve().parents[1]
REDS_GT = REPO.parent / "shared" / "real" / "chenkang455_Spike-Zoo" / "reds_base" / "gt"
RATE, CENTRE = 0.6, 150
ALONG = 281  # frames of the TFP along the motion


def fourier_shift(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """`images` (H, W), or (T, H, W) one per shift, moved right by each of `shifts` (T,) pixels: (T, H, W).

    A band-limited translation, exact below the Nyquist frequency; the image is taken as periodic,
    so what leaves one side comes back on the other. Bilinear resampling would instead blur each
    frame by an amount that depends on the fraction of a pixel it is shifted by, and so charge the
    motion with a blur it does not make."""
    frequencies = torch.fft.fftfreq(images.shape[-1], dtype=torch.float64)
    phase = torch.exp(-2j * torch.pi * shifts.double()[:, None, None] * frequencies)
    spectrum = torch.fft.fft(images.double(), dim=-1)
    return torch.fft.ifft(spectrum * phase, dim=-1).real.float()


def sliding_stream(image: torch.Tensor, speed: float, frames: int, scale: int, seed: int = 0,
                   blur: float = 0.0) -> np.ndarray:
    """Spikes (frames, h, w) of `image` (H, W) moving right by `speed` sensor pixels per frame
    (`fourier_shift`, clipped to [0, 1]), in place at frame CENTRE, seen through a lens blur of sigma
    `blur` sensor pixels."""
    moving = fourier_shift(image, (torch.arange(frames) - CENTRE) * speed * scale).clamp(0, 1)
    seen = lens_blur(area_downscale(moving, scale)[None], torch.tensor([blur]))
    spikes, _ = integrate_and_fire(seen, RATE, generator=torch.Generator().manual_seed(seed))
    return spikes[0].numpy()


def along_the_motion(stream: np.ndarray, speed: float, scale: int) -> np.ndarray:
    """TFP over ALONG frames around CENTRE, each frame first moved back by the scene's known motion:
    what an exact motion estimate and a long window allow, short of undoing the smear of each
    pixel's charge between its spikes."""
    half = ALONG // 2
    frames = torch.from_numpy(stream[CENTRE - half:CENTRE + half + 1]).float()
    steady = fourier_shift(frames, -torch.arange(-half, half + 1) * speed).numpy()
    return TFP(scale, ALONG).reconstruct(Block(0, CENTRE, steady))


def run_network(net: NetReconstructor, stream: np.ndarray, run_up: int) -> np.ndarray:
    """The network's frame at CENTRE after `run_up` blocks, the last one centred there."""
    net.reset()
    half, output = net.window // 2, None
    for index in range(run_up):
        centre = CENTRE - STRIDE * (run_up - 1 - index)
        output = net.reconstruct(Block(index, centre, stream[centre - half:centre + half + 1]))
    return output


def score(frame: np.ndarray, truth: torch.Tensor, scale: int) -> float:
    """PSNR as `spk2vid eval` gives it (a border of `scale` pixels left out)."""
    return float(psnr(torch.from_numpy(np.ascontiguousarray(frame)), truth * RATE, RATE, scale))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, nargs="+", default=sorted(REDS_GT.glob("*.png")))
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--weights", type=Path, nargs="+", help="default: the bundled weights of --scale")
    parser.add_argument("--speeds", type=float, nargs="+", default=[0, 0.05, 0.1, 0.15, 0.2, 0.3])
    parser.add_argument("--run-up", type=int, nargs="+", default=[1, 3, 14], help="blocks before the scored one, plus 1")
    parser.add_argument("--lens-blur", type=float, default=0.0, help="sigma of the sensor's lens blur, sensor pixels")
    parser.add_argument("--tell", action="store_true", help="also run networks that take the blur told --lens-blur")
    parser.add_argument("--truth-offset", type=float, default=0.0,
                        help="score against the scene this many spike frames after frame 150")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args()
    if not args.images:
        parser.error(f"no --images given and no REDS_BASE ground truth in {REDS_GT}")
    weights = args.weights or list(bundled_weights().get(args.scale, {}).values())
    nets = {}
    for path in weights:
        nets[path.stem] = NetReconstructor(args.scale, weights=path, device="cpu", precision="fp32")
        if args.tell and load_config(path).blur_input:
            nets[f"{path.stem} told"] = NetReconstructor(args.scale, weights=path, device="cpu", precision="fp32",
                                                         lens_blur=args.lens_blur)
    widest = max((net.window for net in nets.values()), default=1)
    longest = (CENTRE - widest // 2) // STRIDE + 1  # blocks that fit between frame 0 and CENTRE
    if max(args.run_up) > longest:
        parser.error(f"--run-up {max(args.run_up)}: {widest}-frame blocks fit at most {longest} up to frame {CENTRE}")
    frames = max(CENTRE + STRIDE + 1 + max(widest, CLASSICAL_WINDOW) // 2, CENTRE + ALONG // 2 + 1)
    truths = [torch.from_numpy(read_gt_image(path)).float() for path in args.images]
    truths = [t[:t.shape[0] // args.scale * args.scale, :t.shape[1] // args.scale * args.scale] for t in truths]
    along = f"TFP{ALONG} along the motion"
    measured = [f"{name} @{n}" for name in nets for n in args.run_up] + ["TFP21", "TFP41", along]
    oracle = {}
    if args.scale > 1:  # the sensor's sharp, noise-free view upsampled: the same at every speed
        views = [area_downscale(t[None, None], args.scale) * RATE for t in truths]
        oracle["oracle"] = float(np.mean([score(bicubic(view, args.scale)[0, 0].numpy(), t, args.scale)
                                          for view, t in zip(views, truths)]))
    columns = measured + list(oracle)
    table = {}
    for speed in args.speeds:
        sums = dict.fromkeys(measured, 0.0)
        for image in truths:
            stream = sliding_stream(image, speed, frames, args.scale, blur=args.lens_blur)
            truth = fourier_shift(image, torch.tensor([args.truth_offset * speed * args.scale]))[0]
            for name, net in nets.items():
                for n in args.run_up:
                    sums[f"{name} @{n}"] += score(run_network(net, stream, n), truth, args.scale)
            for window in (21, CLASSICAL_WINDOW):
                half = window // 2
                block = Block(0, CENTRE, stream[CENTRE - half:CENTRE + half + 1])
                sums[f"TFP{window}"] += score(TFP(args.scale, window).reconstruct(block), truth, args.scale)
            sums[along] += score(along_the_motion(stream, speed, args.scale), truth, args.scale)
        table[speed] = {column: value / len(truths) for column, value in sums.items()} | oracle
    if args.json:
        print(json.dumps({"images": [str(p) for p in args.images], "scale": args.scale, "lens_blur": args.lens_blur,
                          "truth_offset": args.truth_offset, "psnr": table}, indent=1))
        return
    print(f"PSNR (dB) vs speed (sensor px per spike frame), x{args.scale}, mean of {len(truths)} images, "
          f"lens blur {args.lens_blur:g}, truth at frame {CENTRE + args.truth_offset:g}; @n = run-up of n blocks")
    print(" | ".join(["speed"] + columns))
    for speed, row in table.items():
        print(" | ".join([f"{speed:g}"] + [f"{row[c]:.2f}" for c in columns]))


if __name__ == "__main__":
    main()
