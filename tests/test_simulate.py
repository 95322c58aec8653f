"""The integrate-and-fire simulator and `spk2vid simulate`."""

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import tifffile
import torch

from spk2vid_cli.errors import EXIT_OK, EXIT_OUTPUT, EXIT_USAGE, InputError
from spk2vid_cli.simulate import (
    area_downscale,
    integrate_and_fire,
    lens_blur,
    SensorModel,
    pixel_thresholds,
    simulate_file,
    smooth_camera_path,
    to_luminance,
    view_thetas,
    warp_frames,
)
from spk2vid_cli.spikes import open_recording, read_config
from spk2vid_cli.windows import block_centres
from io_helpers import run_cli


def textured_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """RGB uint8 test image: a top-to-bottom gradient plus smooth random texture."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 8 + 2, width // 8 + 2))
    texture = np.kron(coarse, np.ones((8, 8)))[:height, :width]
    grey = 0.6 * np.linspace(0, 1, height)[:, None] + 0.4 * texture
    return (np.repeat(grey[..., None], 3, axis=2) * 255).astype(np.uint8)


# --- integrate and fire ------------------------------------------------------------------------

@pytest.mark.parametrize("level", [0.0, 0.05, 0.37, 1.0])
def test_firing_rate_converges_to_intensity_times_rate(level):
    frames = 1000
    intensity = torch.full((2, frames, 3, 4), level)
    rate = torch.tensor([0.6, 0.25])
    spikes, _ = integrate_and_fire(intensity, rate, generator=torch.Generator().manual_seed(1))
    measured = spikes.float().mean(dim=(1, 2, 3))
    # Without noise the count over T frames is floor(c0 + T * level * rate): off by under one spike.
    assert torch.allclose(measured, level * rate, atol=1.0 / frames + 1e-6)
    assert spikes.dtype == torch.uint8 and set(spikes.unique().tolist()) <= {0, 1}


def test_chunked_simulation_equals_one_shot():
    torch.manual_seed(0)
    intensity = torch.rand(2, 50, 5, 6)
    thresholds = pixel_thresholds((2, 5, 6), 0.1, torch.Generator().manual_seed(3))
    settings = dict(threshold=thresholds, dark_current=0.01, noise_std=0.05)

    whole, whole_charge = integrate_and_fire(intensity, 0.6, generator=torch.Generator().manual_seed(7), **settings)
    generator, charge, parts = torch.Generator().manual_seed(7), None, []
    for start in range(0, 50, 7):
        part, charge = integrate_and_fire(intensity[:, start : start + 7], 0.6, charge=charge,
                                          generator=generator, **settings)
        parts.append(part)
    assert torch.equal(torch.cat(parts, dim=1), whole)
    assert torch.equal(charge, whole_charge)


def test_same_seed_same_spikes_other_seed_other_spikes():
    intensity = torch.rand(1, 30, 8, 8, generator=torch.Generator().manual_seed(0))

    def spikes(seed: int) -> torch.Tensor:
        return integrate_and_fire(intensity, noise_std=0.1, generator=torch.Generator().manual_seed(seed))[0]

    assert torch.equal(spikes(5), spikes(5))
    assert not torch.equal(spikes(5), spikes(6))


def test_subtract_reset_keeps_the_remainder():
    intensity = torch.full((1, 4, 1, 1), 1.0)
    spikes, charge = integrate_and_fire(intensity, 0.7, charge=torch.zeros(1, 1, 1))
    # charge 0.7 -> 1.4 fire (0.4) -> 1.1 fire (0.1) -> 0.8
    assert spikes.flatten().tolist() == [0, 1, 1, 0]
    assert charge.item() == pytest.approx(0.8)


def test_pixel_thresholds_vary_around_one_and_stay_above_half():
    thresholds = pixel_thresholds((64, 64), 0.3, torch.Generator().manual_seed(0))
    assert thresholds.min() >= 0.5
    assert abs(thresholds.mean().item() - 1.0) < 0.03
    assert thresholds.std() > 0.2
    assert torch.equal(pixel_thresholds((4, 4), 0.0), torch.ones(4, 4))


# --- images, geometry ------------------------------------------------------------------------

def test_area_downscale_is_the_exact_area_mean():
    x = torch.arange(4 * 6, dtype=torch.float32).reshape(4, 6)
    expected = torch.tensor([[3.5, 5.5, 7.5], [15.5, 17.5, 19.5]])
    assert torch.equal(area_downscale(x, 2), expected)
    ragged = torch.arange(5 * 7, dtype=torch.float32).reshape(1, 1, 5, 7)  # last row and column cropped
    assert torch.equal(area_downscale(ragged, 3), torch.tensor([[[[8.0, 11.0]]]]))
    assert torch.equal(area_downscale(x, 1), x)


def test_lens_blur_is_a_normalised_gaussian_per_stream():
    point = torch.zeros(2, 1, 9, 9)
    point[:, :, 4, 4] = 1.0
    blurred = lens_blur(point, torch.tensor([0.0, 0.8]))
    assert torch.equal(blurred[0], point[0])                       # sigma 0: unchanged
    assert float(blurred[1].sum()) == pytest.approx(1.0, abs=1e-6)  # light is kept
    row = blurred[1, 0, 4]                                         # radius: 3 sigma, rounded up
    assert torch.allclose(row[1:-1] / row[4], torch.exp(-0.5 * (torch.arange(-3.0, 4.0) / 0.8) ** 2), atol=1e-5)
    assert float(row[0]) == float(row[-1]) == 0.0
    flat = torch.full((1, 2, 5, 6), 0.3)
    assert torch.allclose(lens_blur(flat, torch.tensor([0.6])), flat)   # replicated borders: no dark rim


def test_to_luminance_scales_and_weights_channels():
    white = np.full((2, 3, 3), 255, np.uint8)
    assert to_luminance(white).dtype == np.float32 and np.allclose(to_luminance(white), 1.0)
    green = np.zeros((1, 1, 4), np.uint16)
    green[..., 1] = 65535
    assert to_luminance(green)[0, 0] == pytest.approx(0.587)
    grey = np.array([[0.25, 0.5]], np.float64)
    assert np.allclose(to_luminance(grey), grey)


def test_camera_path_is_smooth_and_bounded():
    frames, max_shift, max_rotation = 200, 0.02, 0.01
    path = smooth_camera_path(frames, max_shift=max_shift, max_rotation=max_rotation,
                              generator=torch.Generator().manual_seed(4))
    assert path.shape == (frames, 2, 3)
    assert torch.allclose(path[0], torch.eye(2, 3))
    velocity = path[1:, :, 2] - path[:-1, :, 2]
    assert velocity.norm(dim=1).max() <= max_shift + 1e-6
    acceleration = (velocity[1:] - velocity[:-1]).norm(dim=1)
    assert acceleration.max() <= 2 * max_shift / (frames - 2) + 1e-6
    turn = torch.atan2(path[1:, 1, 0], path[1:, 0, 0]) - torch.atan2(path[:-1, 1, 0], path[:-1, 0, 0])
    assert turn.abs().max() <= max_rotation + 1e-6


def test_camera_path_with_zero_speed_stands_still():
    path = smooth_camera_path(10, max_shift=0.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(path, torch.eye(2, 3).expand(10, 2, 3))


def test_warp_shows_the_centre_crop_and_follows_a_pixel_shift():
    image = torch.arange(20 * 30, dtype=torch.float32).reshape(1, 1, 20, 30)
    path = torch.eye(2, 3).repeat(2, 1, 1)
    path[1, :, 2] = torch.tensor([3.0, -2.0]) * 2 / 10  # 3 px right, 2 px up; 1 view unit = 5 px
    thetas = view_thetas(path, (20, 30), (10, 12))[None]
    views = warp_frames(image, thetas, (10, 12))
    assert views.shape == (1, 2, 1, 10, 12)
    assert torch.allclose(views[0, 0, 0], image[0, 0, 5:15, 9:21], atol=1e-3)
    assert torch.allclose(views[0, 1, 0], image[0, 0, 3:13, 12:24], atol=1e-3)


def test_warp_samples_where_affine_grid_points():
    image = torch.rand(2, 3, 16, 20, generator=torch.Generator().manual_seed(0))
    thetas = torch.eye(2, 3) + 0.2 * torch.randn(2, 4, 2, 3, generator=torch.Generator().manual_seed(1))
    grid = torch.nn.functional.affine_grid(thetas.reshape(8, 2, 3), [8, 3, 7, 9], align_corners=False)
    expected = torch.nn.functional.grid_sample(image.repeat_interleave(4, dim=0), grid, padding_mode="reflection",
                                               align_corners=False)
    assert torch.allclose(warp_frames(image, thetas, (7, 9)), expected.reshape(2, 4, 3, 7, 9), atol=1e-5)


# --- the command ------------------------------------------------------------------------------

@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "still.png"
    imageio.imwrite(path, textured_image(48, 64))
    return path


def test_simulate_still_writes_readable_dat_config_and_ground_truth(still, tmp_path, capsys):
    out, gt = tmp_path / "out" / "s.dat", tmp_path / "out" / "gt.tif"
    code, _, _ = run_cli(capsys, "simulate", still, "-o", out, "--downscale", "2", "--frames", "60", "--rate", "0.5",
                         "--save-gt", gt, "--quiet")
    assert code == EXIT_OK
    config = read_config(out.parent)
    assert (config["spike_h"], config["spike_w"], config["rate"], config["downscale"]) == (24, 32, 0.5, 2)
    with open_recording(out) as recording:
        assert (recording.num_frames, recording.height, recording.width) == (60, 24, 32)
        assert 0.05 < recording.frames(0, 60).mean() < 0.5
    with tifffile.TiffFile(gt) as tif:
        stack, meta = tif.asarray(), tif.shaped_metadata[0]
    centres = list(block_centres(60, 21, 10))
    assert stack.shape == (len(centres), 48, 64) and stack.dtype == np.float32
    assert meta["spike_frames"] == centres and meta["rate"] == 0.5
    assert 0 <= stack.min() and stack.max() <= 0.5 + 1e-6
    assert not list(out.parent.glob("*.partial*"))


def test_tfp_of_simulated_spikes_matches_ground_truth_only_with_the_flip(still, tmp_path):
    out, gt = tmp_path / "s.dat", tmp_path / "gt.tif"
    simulate_file(still, out, downscale=2, frames=80, save_gt=gt, seed=3)
    with tifffile.TiffFile(gt) as tif:
        stack, centres = tif.asarray(), tif.shaped_metadata[0]["spike_frames"]
    for flip, low, high in ((True, 0.9, 1.0), (False, -1.0, 0.3)):
        with open_recording(out, flip=flip) as recording:
            for page, centre in zip(stack, centres):
                tfp = recording.frames(centre - 10, centre + 11).mean(axis=0)
                truth = area_downscale(torch.from_numpy(page), 2).numpy()
                assert low <= np.corrcoef(tfp.ravel(), truth.ravel())[0, 1] <= high


def test_simulate_is_deterministic_per_seed(still, tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        simulate_file(still, tmp_path / name / "s.dat", frames=30, seed=seed, sensor=SensorModel(noise_std=0.05))
    data = {name: (tmp_path / name / "s.dat").read_bytes() for name in "abc"}
    assert data["a"] == data["b"] != data["c"]


def test_lens_blur_softens_the_spikes_and_leaves_the_ground_truth(still, tmp_path, capsys):
    """A still seen through --lens-blur fires at the rate of the blurred image; its ground truth is sharp."""
    rates, truths = {}, {}
    for blur in ("0", "1.5"):
        out, gt = tmp_path / blur / "s.dat", tmp_path / blur / "gt.tif"
        code, _, _ = run_cli(capsys, "simulate", still, "-o", out, "--frames", "400", "--speed", "0", "--rate", "0.8",
                             "--lens-blur", blur, "--save-gt", gt, "--quiet")
        assert code == EXIT_OK and read_config(out.parent)["lens_blur"] == float(blur)
        with open_recording(out) as recording:
            rates[blur] = torch.from_numpy(recording.frames(0, 400).mean(0, dtype=np.float32))
        truths[blur] = tifffile.imread(gt)
    assert np.array_equal(truths["0"], truths["1.5"])
    sharp = torch.from_numpy(truths["0"][0])               # intensity x rate
    assert torch.allclose(rates["0"], sharp, atol=1 / 400 + 1e-6)
    expected = lens_blur(sharp[None, None], torch.tensor([1.5]))[0, 0]
    assert torch.allclose(rates["1.5"], expected, atol=1 / 400 + 1e-6)
    assert float((rates["1.5"] - sharp).abs().max()) > 0.05
    code, _, err = run_cli(capsys, "simulate", still, "-o", tmp_path / "x.dat", "--lens-blur", "-1", "--quiet")
    assert code == EXIT_USAGE and "--lens-blur must be >= 0" in err


def test_image_folder_blends_subframes_and_video_reads(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    images = [textured_image(32, 32, seed) for seed in range(3)]
    for index, image in enumerate(images):
        imageio.imwrite(folder / f"{index:03d}.png", image)
    result = simulate_file(folder, tmp_path / "f" / "f.dat", subframes=4, save_gt=tmp_path / "f" / "gt.tif",
                           gt_window=3, gt_stride=4)
    assert result.num_frames == (3 - 1) * 4 + 1
    with tifffile.TiffFile(tmp_path / "f" / "gt.tif") as tif:
        gt = tif.asarray()
    # Spike frame 5 is 1/4 of the way from source frame 1 to 2; GT pages are at frames 1, 5.
    first, second = to_luminance(images[1]), to_luminance(images[2])
    assert np.allclose(gt[1], 0.6 * (0.75 * first + 0.25 * second), atol=1e-5)

    video = tmp_path / "clip.mp4"
    imageio.mimwrite(video, images, fps=10, macro_block_size=16)
    assert simulate_file(video, tmp_path / "v" / "v.dat", subframes=2).num_frames == (3 - 1) * 2 + 1


def test_refuses_to_overwrite_without_the_flag(still, tmp_path, capsys):
    out = tmp_path / "s.dat"
    assert run_cli(capsys, "simulate", still, "-o", out, "--frames", "20", "-q")[0] == EXIT_OK
    before = out.read_bytes()
    assert run_cli(capsys, "simulate", still, "-o", out, "--frames", "30", "-q")[0] == EXIT_OUTPUT
    assert out.read_bytes() == before
    assert run_cli(capsys, "simulate", still, "-o", out, "--frames", "30", "-q", "--overwrite")[0] == EXIT_OK
    assert len(out.read_bytes()) == len(before) // 20 * 30


def test_bad_source_fails_cleanly(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    imageio.imwrite(folder / "0.png", textured_image(32, 32))
    imageio.imwrite(folder / "1.png", textured_image(16, 16))  # a frame of the wrong size
    with pytest.raises(InputError, match="1.png"):
        simulate_file(folder, tmp_path / "out" / "s.dat")
    assert not list((tmp_path / "out").glob("*"))
    (tmp_path / "notes.txt").write_text("not a video")
    assert run_cli(capsys, "simulate", tmp_path / "notes.txt", "-o", tmp_path / "n.dat", "-q")[0] == EXIT_USAGE
