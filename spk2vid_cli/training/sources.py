"""Training sources on disk: the manifest, decoding, and the in-memory `SourcePool`.

A source folder (the cache of `scripts/fetch_data.py` or the pack of `scripts/pack_data.py`) holds
`manifest.json` and the files it lists. Each entry names its `path` (relative to the folder),
`kind` ("image" | "video"), `split` ("train" | "val"), provenance and licence, `size` and `sha256`.
A video is a file ffmpeg can decode or a folder of frame images (`0000.png`, ...).

Everything is turned into luminance with the simulator's `to_luminance`, the same conversion as
`spk2vid simulate`. Clips are cut into shots at scene cuts, so that no stream blends across a cut.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spk2vid_cli.errors import InputError
from spk2vid_cli.simulate import to_luminance

MANIFEST = "manifest.json"
KINDS = ("image", "video")
SPLITS = ("train", "val")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
# A scene cut: mean absolute frame difference above both bounds (grey levels in [0, 1]).
CUT_MIN_DIFFERENCE = 0.08
CUT_MEDIAN_RATIO = 4.0
MIN_SHOT_FRAMES = 8


def file_entry(path: Path, root: Path, **fields) -> dict:
    """A manifest entry for `path` (a file or a folder of frames): `fields` + path, size, sha256."""
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    size = sum(file.stat().st_size for file in files)
    return {**fields, "path": path.relative_to(root).as_posix(), "size": size, "sha256": digest.hexdigest()}


def write_manifest(root: Path, entries: list[dict], **extra) -> Path:
    """Write `root/manifest.json` listing `entries` (plus top-level `extra` keys)."""
    path = root / MANIFEST
    path.write_text(json.dumps({**extra, "files": entries}, indent=1) + "\n")
    return path


def read_manifest(root: Path) -> dict:
    """The manifest of a source folder; InputError naming the fix when there is none."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise InputError(f"{path}: no training manifest; run scripts/fetch_data.py (or point at a pack folder)")
    return json.loads(path.read_text())


def fit_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Shrink an (H, W[, C]) uint8 image so that its longer side is at most `long_side` (antialiased)."""
    height, width = image.shape[:2]
    factor = long_side / max(height, width)
    if factor >= 1:
        return image
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    planes = torch.from_numpy(np.ascontiguousarray(image)).float().reshape(height, width, -1).permute(2, 0, 1)
    small = F.interpolate(planes[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0]
    small = small.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return small.reshape(size + image.shape[2:])


def read_image(path: Path) -> np.ndarray:
    """Luminance (H, W) float32 in [0, 1] of an image file."""
    import imageio.v3 as iio

    return to_luminance(iio.imread(path))


def iter_video(path: Path) -> Iterable[np.ndarray]:
    """Decoded frames of a video file (ffmpeg) or of a folder of frame images, as stored."""
    import imageio.v3 as iio

    if path.is_dir():
        return (iio.imread(file) for file in sorted(path.iterdir()) if file.suffix.lower() in FRAME_SUFFIXES)
    return iio.imiter(path, plugin="FFMPEG")


def read_clip(path: Path) -> np.ndarray:
    """Luminance frames (T, H, W) uint8 of a video file or frame folder."""
    return np.stack([np.round(to_luminance(frame) * 255).astype(np.uint8) for frame in iter_video(path)])


def split_shots(frames: np.ndarray) -> list[np.ndarray]:
    """Cut (T, H, W) uint8 frames at scene cuts; shots shorter than MIN_SHOT_FRAMES are dropped."""
    if len(frames) < 2:
        return []
    difference = np.array([np.abs(b.astype(np.int16) - a).mean() / 255 for a, b in zip(frames[:-1], frames[1:])])
    limit = max(CUT_MIN_DIFFERENCE, CUT_MEDIAN_RATIO * float(np.median(difference)))
    cuts = [0, *(np.nonzero(difference > limit)[0] + 1), len(frames)]
    return [frames[a:b] for a, b in zip(cuts[:-1], cuts[1:]) if b - a >= MIN_SHOT_FRAMES]


class SourcePool:
    """Decoded luminance sources of one split, on the CPU.

    `images`: float32 tensors (H, W) in [0, 1]; `clips`: uint8 tensors (T, H, W) (grey levels x 255),
    one per shot. `SourcePool(folder, split, kinds)` loads a manifest folder;
    `SourcePool.from_arrays(images, clips)` wraps arrays already in memory (tests, notebooks).
    """

    def __init__(self, cache_dir: Path, split: str = "train", kinds: Sequence[str] = KINDS):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        cache_dir = Path(cache_dir)
        entries = [e for e in read_manifest(cache_dir)["files"] if e["split"] == split and e["kind"] in kinds]
        if not entries:
            raise InputError(f"{cache_dir / MANIFEST}: no {'/'.join(kinds)} sources in split {split!r}; "
                             "re-run scripts/fetch_data.py")
        images = [read_image(cache_dir / e["path"]) for e in entries if e["kind"] == "image"]
        clips = [shot for e in entries if e["kind"] == "video"
                 for shot in split_shots(read_clip(cache_dir / e["path"]))]
        self._store(images, clips)

    @classmethod
    def from_arrays(cls, images: Sequence[np.ndarray], clips: Sequence[np.ndarray] = ()) -> SourcePool:
        """A pool of in-memory images (H, W) float in [0, 1] and clips (T, H, W) uint8 (not shot-split)."""
        pool = cls.__new__(cls)
        pool._store(images, clips)
        return pool

    def _store(self, images: Sequence[np.ndarray], clips: Sequence[np.ndarray]) -> None:
        self.images = [torch.as_tensor(np.asarray(image, dtype=np.float32)) for image in images]
        self.clips = [torch.as_tensor(np.asarray(clip, dtype=np.uint8)) for clip in clips]

    def __len__(self) -> int:
        return len(self.images) + len(self.clips)

    def images_at_least(self, side: int) -> list[int]:
        """Indices of the images whose shorter side is at least `side` pixels."""
        return [i for i, image in enumerate(self.images) if min(image.shape) >= side]

    def clips_at_least(self, side: int) -> list[int]:
        """Indices of the clip shots of two frames or more whose shorter side is at least `side` pixels."""
        return [i for i, clip in enumerate(self.clips) if len(clip) >= 2 and min(clip.shape[1:]) >= side]
