"""Band benchmark (not a test): where a method's error lies, by spatial frequency, on REDS_BASE-style data.

Run it where spk2vid is installed (`pip install -e .`):

    python benchmarks/bench_bands.py [FOLDER] [--weights W.pt ...] [--centre 150] [--rate 0.6] [--json]

FOLDER is in Spike-Zoo's REDS_BASE layout (spike/NAME.dat + gt/NAME.png at sensor resolution;
default: the two samples in ../shared). For each method (each network, run from the start of the
stream as `spk2vid eval` runs it, and TFP over 1, 5, 21 and 41 frames centred on --centre) and each
band of spatial frequency (cycles per pixel, radial), it prints, summed over the recordings:

- transfer: Re<X G*> / <|G|^2> over the band, X and G the Hann-windowed spectra of the method's
  intensity and of the ground truth. 1: the band comes through whole; 0: nothing of it (noise and
  other content do not count, they are uncorrelated with G); below 0: it comes back displaced.
- error share: the share of the squared error that lies in the band.

A second table follows the ground truth in time: the transfer of TFP3 centred 0, +-2, ... +-10
frames from --centre. It peaks where the ground truth sits and falls as the scene moves away: at
0.15 px per spike frame, the 0.15-0.3 band is down to half within about 7 frames.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spk2vid_cli.classical import TFP
from spk2vid_cli.net import NetReconstructor
from spk2vid_cli.spikes import open_recording
from spk2vid_cli.training.evaluate import find_gt_folder_pairs, frame_at, net_centres, read_gt_image
from spk2vid_model.geometry import STRIDE
from spk2vid_model.weights import bundled_weights

REPO = Path(__file__).resolve().parents[1]
REDS = REPO.parent / "shared" / "real" / "chenkang455_Spike-Zoo" / "reds_base"
BANDS = [(0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.71)]
TFP_WINDOWS = (1, 5, 21, 41)
OFFSETS = range(-10, 11, 2)
BORDER = 8  # pixels left out on each side, as networks pad there


def spectrum(image: np.ndarray) -> np.ndarray:
    """The Hann-windowed 2-D spectrum of an image, mean removed."""
    window = np.outer(np.hanning(image.shape[0]), np.hanning(image.shape[1]))
    return np.fft.fft2((image - image.mean()) * window)


def band_masks(shape: tuple[int, int]) -> list[np.ndarray]:
    """Boolean masks of BANDS over an fft2 spectrum of `shape`."""
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij"))
    return [(radius >= low) & (radius < high) for low, high in BANDS]


class BandSums:
    """Sums over recordings of Re<X G*>, |G|^2 and |X - G|^2 in each band."""

    def __init__(self) -> None:
        self.cross, self.truth, self.error = (np.zeros(len(BANDS)) for _ in range(3))

    def add(self, estimate: np.ndarray, truth: np.ndarray) -> None:
        x, g = spectrum(estimate), spectrum(truth)
        for k, mask in enumerate(band_masks(truth.shape)):
            self.cross[k] += np.real(x[mask] * np.conj(g[mask])).sum()
            self.truth[k] += np.square(np.abs(g[mask])).sum()
            self.error[k] += np.square(np.abs(x[mask] - g[mask])).sum()

    def transfer(self) -> list[float]:
        return (self.cross / self.truth).tolist()

    def error_share(self) -> list[float]:
        return (self.error / self.error.sum()).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=REDS)
    parser.add_argument("--weights", type=Path, nargs="+", help="default: the bundled x1 weights")
    parser.add_argument("--centre", type=int, help="ground-truth spike frame (default: each recording's middle)")
    parser.add_argument("--rate", type=float, default=0.6, help="firing rate of intensity 1")
    parser.add_argument("--json", action="store_true", help="print the tables as JSON")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"{args.folder}: no such folder; give one in the REDS_BASE layout (spike/ + gt/)")
    weights = args.weights or list(bundled_weights().get(1, {}).values())
    nets = {path.stem: NetReconstructor(1, weights=path, device="cpu", precision="fp32") for path in weights}
    methods = {name: BandSums() for name in [*nets, *(f"TFP{w}" for w in TFP_WINDOWS)]}
    in_time = {offset: BandSums() for offset in OFFSETS}
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    for pair in find_gt_folder_pairs(args.folder):
        truth = read_gt_image(pair.truth)[inner]
        with open_recording(pair.spikes) as recording:
            centre = (recording.num_frames - 1) // 2 if args.centre is None else args.centre
            for name, net in nets.items():
                frame = frame_at(recording, net, list(net_centres(centre, net.window, STRIDE)), shrink=False)
                methods[name].add(frame[inner] / args.rate, truth)
            for window in TFP_WINDOWS:
                frame = frame_at(recording, TFP(1, window), [centre], shrink=False)
                methods[f"TFP{window}"].add(frame[inner] / args.rate, truth)
            for offset in OFFSETS:
                frame = frame_at(recording, TFP(1, 3), [centre + offset], shrink=False)
                in_time[offset].add(frame[inner] / args.rate, truth)
    bands = [f"{low:g}-{high:g}" for low, high in BANDS]
    if args.json:
        print(json.dumps({"folder": str(args.folder), "bands": bands,
                          "methods": {name: {"transfer": s.transfer(), "error_share": s.error_share()}
                                      for name, s in methods.items()},
                          "tfp3_transfer_by_offset": {offset: s.transfer() for offset, s in in_time.items()}},
                         indent=1))
        return
    print(f"{args.folder}: transfer / error share by band (cycles per pixel)")
    print(" | ".join(["method"] + bands))
    for name, sums in methods.items():
        print(" | ".join([name] + [f"{t:.2f} / {e:.2f}" for t, e in zip(sums.transfer(), sums.error_share())]))
    print("\nTFP3 transfer by offset from the ground-truth frame (spike frames)")
    print(" | ".join(["offset"] + bands))
    for offset, sums in in_time.items():
        print(" | ".join([f"{offset:+d}"] + [f"{t:.2f}" for t in sums.transfer()]))


if __name__ == "__main__":
    main()
