"""Side-by-side crops of the real recordings: TFP41+bicubic, TFI+bicubic and Spk2VidNet, at x4 or x1.

    python scripts/real_side_by_side.py [--scale 4|1] [--weights PATH] [--out docs/real]

No ground truth exists for real recordings, so this only lets people look. At x1 a REDS_BASE sample
(simulated from real video, with its sharp frame) is added, its ground truth as the first panel. For each recording, the
frame centred on spike frame `centre` is reconstructed by each method (the network runs over every
block up to that centre, so its recurrence has the stream's history); each panel gets the same
display mapping (99.5th percentile of that panel to white) and is labelled by its column order in
the README.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from spk2vid_cli.classical import TFI, TFP
from spk2vid_cli.exposure import Exposure
from spk2vid_cli.net import NetReconstructor
from spk2vid_cli.simulate import to_luminance
from spk2vid_cli.spikes import open_recording
from spk2vid_cli.windows import Block, iter_blocks
from spk2vid_model.geometry import CLASSICAL_WINDOW, STRIDE

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "real"
# recording, centre spike frame, LR crop (top, left, height, width)
SCENES = [
    (SHARED / "Evin-X_SpikingSIM" / "real_spike.npz", 250, (60, 120, 100, 160)),
    (SHARED / "chenkang455_Spike-Zoo" / "uhsr.npz", 100, (50, 50, 150, 150)),
]
REDS = SHARED / "chenkang455_Spike-Zoo" / "reds_base"
REDS_SCENE = (REDS / "spike" / "203_part2_key_id151.dat", 150, REDS / "gt" / "203_part2_key_id151.png")
REDS_RATE = 0.6  # conversion rate of the REDS_BASE streams: ground truth in firing-rate units is gt x rate


def frame_at(reconstructor, recording, centre: int) -> np.ndarray:
    """Reconstruct the frame centred on `centre` (running a recurrent method over the blocks before it)."""
    half = reconstructor.window // 2
    if isinstance(reconstructor, NetReconstructor):
        reconstructor.reset()
        for block in iter_blocks(recording, reconstructor.window, STRIDE, start=(centre - half) % STRIDE):
            image = reconstructor.reconstruct(block)
            if block.centre == centre:
                return image
        raise ValueError(f"no block centred on {centre}")
    return reconstructor.reconstruct(Block(0, centre, recording.frames(centre - half, centre + half + 1)))


def panel(image: np.ndarray, crop: tuple[int, int, int, int], scale: int) -> np.ndarray:
    top, left, height, width = (v * scale for v in crop)
    region = image[top:top + height, left:left + width]
    exposure = Exposure.from_spec("auto")
    exposure.fit([region])
    return (exposure.apply(region) * 255 + 0.5).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=4, choices=[1, 4], help="output scale")
    parser.add_argument("--weights", type=Path, default=None, help="network weights (default: bundled)")
    parser.add_argument("--out", type=Path, default=Path("docs/real"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scale = args.scale
    methods = [TFP(scale, CLASSICAL_WINDOW), TFI(scale, CLASSICAL_WINDOW),
               NetReconstructor(scale, model="lite", weights=args.weights, device="cpu")]
    scenes = [(path, centre, crop, None) for path, centre, crop in SCENES]
    scenes += [(REDS_SCENE[0], REDS_SCENE[1], None, REDS_SCENE[2])] if scale == 1 else []
    for path, centre, crop, truth in scenes:
        with open_recording(path) as recording:
            if scale == 1:  # at sensor resolution the whole frame fits on a page
                crop = (0, 0, recording.height, recording.width)
            images = [frame_at(m, recording, centre) for m in methods]
        if truth is not None:
            images.insert(0, to_luminance(iio.imread(truth)) * REDS_RATE)
        panels = [panel(image, crop, scale) for image in images]
        gap = np.full((panels[0].shape[0], 8), 255, np.uint8)
        row = np.concatenate([p for item in panels for p in (item, gap)][:-1], axis=1)
        target = args.out / f"{path.stem}_x{scale}.jpg"
        iio.imwrite(target, row, quality=90)
        labels = ["ground truth"] * (truth is not None) + [m.description for m in methods]
        print(f"{target}: {' | '.join(labels)}")


if __name__ == "__main__":
    main()
