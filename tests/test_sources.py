"""Training sources: manifest folders, shot splitting, licence parsing and the pack round trip."""

import importlib.util
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from spk2vid_cli.errors import InputError
from spk2vid_cli.training.sources import (SourcePool, file_entry, fit_long_side, read_manifest, split_shots,
                                          write_manifest)

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def textured(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random RGB image, uint8 (compresses like a photo, not like noise)."""
    coarse = torch.rand((1, 3, height // 8 + 1, width // 8 + 1), generator=torch.Generator().manual_seed(seed))
    fine = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return (fine[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def make_cache(root: Path) -> Path:
    """A cache with one image (train), one mp4 clip with a scene cut (train) and one image (val)."""
    (root / "images").mkdir(parents=True)
    (root / "videos").mkdir()
    iio.imwrite(root / "images/wide.png", textured(120, 200, 0))
    iio.imwrite(root / "images/held.png", textured(64, 64, 1))
    shots = [np.repeat(textured(64, 64, seed)[None], 10, axis=0) for seed in (2, 3)]
    iio.imwrite(root / "videos/cut.mp4", np.concatenate(shots), plugin="FFMPEG", fps=10)
    fields = {"source": "test", "version": "1", "licence": "CC0-1.0", "licence_source": "test"}
    write_manifest(root, [file_entry(root / "images/wide.png", root, kind="image", split="train", **fields),
                          file_entry(root / "images/held.png", root, kind="image", split="val", **fields),
                          file_entry(root / "videos/cut.mp4", root, kind="video", split="train", **fields)])
    return root


def test_source_pool_reads_a_manifest_folder(tmp_path):
    cache = make_cache(tmp_path / "cache")
    train = SourcePool(cache, "train")
    assert [tuple(image.shape) for image in train.images] == [(120, 200)]
    image = train.images[0]
    assert image.dtype == torch.float32 and 0 <= float(image.min()) < float(image.max()) <= 1
    assert [tuple(clip.shape) for clip in train.clips] == [(10, 64, 64), (10, 64, 64)]  # cut into two shots
    assert len(SourcePool(cache, "val")) == 1
    assert len(SourcePool(cache, "train", kinds=("image",)).clips) == 0
    with pytest.raises(InputError, match="manifest"):
        SourcePool(tmp_path / "nowhere", "train")


def test_split_shots_cuts_at_jumps_and_drops_short_shots():
    steady = np.full((12, 4, 4), 100, np.uint8) + np.arange(12, dtype=np.uint8)[:, None, None]
    jumped = np.concatenate([steady, steady + 100, steady[:3]])
    shots = split_shots(jumped)
    assert [len(shot) for shot in shots] == [12, 12]  # the 3-frame tail is too short to keep
    assert len(split_shots(steady)) == 1


def test_fit_long_side_keeps_aspect_and_small_images():
    image = textured(120, 200, 4)
    small = fit_long_side(image, 100)
    assert small.shape == (60, 100, 3) and small.dtype == np.uint8
    assert abs(float(small.mean()) - float(image.mean())) < 2
    assert fit_long_side(image, 400) is image


def test_pack_round_trip_fits_the_budget(tmp_path):
    cache = make_cache(tmp_path / "cache")
    pack = load_script("pack_data").pack
    entries = pack(cache, tmp_path / "pack", max_mb=1.0, long_side=100)
    pool = SourcePool(tmp_path / "pack", "train")
    assert [tuple(image.shape) for image in pool.images] == [(60, 100)]
    assert [clip.shape[1:] for clip in pool.clips] == [(64, 64), (64, 64)]
    assert all(entry["licence"] == "CC0-1.0" and len(entry["packed_from"]) == 64 for entry in entries)
    assert read_manifest(tmp_path / "pack")["files"] == entries

    images = sum(e["size"] for e in entries if e["kind"] == "image")
    frame = load_script("pack_data").frame_bytes(read_manifest(cache)["files"][2], cache, 100)
    budget = images + 3.5 * frame
    tight = pack(cache, tmp_path / "tight", max_mb=budget / 2**20, long_side=100)
    assert 0 < len(list((tmp_path / "tight" / tight[-1]["path"]).iterdir())) < 20  # only the first frames fit
    assert sum(e["size"] for e in tight) <= budget


def test_licence_helpers_of_fetch_data(tmp_path):
    fetch = load_script("fetch_data")
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text("Format: x\n\nFiles: *\nLicense: GPL-2+\n\nFiles: nature/A.jpg\n       nature/B.jpg\n"
                              "Copyright: someone\nLicense: CC-BY-SA-4.0\n text of it\n")
    assert fetch.dep5_licence(copyright_file, "nature/B.jpg") == "CC-BY-SA-4.0"
    assert fetch.dep5_licence(copyright_file, "nature/C.jpg") == "GPL-2+"
    doc = "A cat.\n\nNotes\n-----\nNo copyright restrictions.  CC0 by the photographer (Someone).\n"
    assert fetch.permissive_statement(doc) == "CC0 by the photographer (Someone)."
    assert fetch.permissive_statement("Scanned page.\n\nReturns\n-------\npage : ndarray") is None


def test_dep5_photo_items_keep_free_licences_with_holders(tmp_path):
    fetch = load_script("fetch_data")
    (tmp_path / "usr/share/doc/pkg").mkdir(parents=True)
    (tmp_path / "usr/share/doc/pkg/copyright").write_text(
        "Format: x\n\nFiles: 16.04/Free.jpg\nCopyright: Someone, 2018\n           Other\nLicense: CC-BY-4.0\n\n"
        "Files: 16.04/NonCommercial.jpg\nCopyright: Someone\nLicense: CC-BY-NC-4.0\n")
    (tmp_path / "usr/share/backgrounds").mkdir(parents=True)
    for name in ("Free", "NonCommercial", "Unlisted"):
        (tmp_path / f"usr/share/backgrounds/{name}.jpg").touch()
    reasons = []
    items = fetch.dep5_photo_items(tmp_path, lambda reason, **_: reasons.append(reason), package="pkg",
                                   names=("Free", "NonCommercial", "Unlisted", "Gone"),
                                   installed="usr/share/backgrounds/{}.jpg", upstream="16.04/{}.jpg")
    assert [(item.dest, item.licence) for item in items] == [("images/pkg/Free.png",
                                                              "CC-BY-4.0 (Someone, 2018; Other)")]
    assert reasons == ["NonCommercial: licence 'CC-BY-NC-4.0' is not a known free licence",
                       "Unlisted: licence 'unknown' is not a known free licence",
                       "Gone is not in this version of the package"]
