"""Evaluation of reconstructions against ground truth (`spk2vid eval` and the trainer's validation).

Three sources of paired data, scored the same way:
- recordings written by `spk2vid simulate --save-gt` (a .dat and its ground-truth TIFF stack), run
  through the same reconstructors as `spk2vid convert` (`evaluate_recordings`);
- folders in Spike-Zoo's REDS_BASE layout, `spike/NAME.dat` + `gt/NAME.png` (or .tif): one sharp
  frame per recording, at a known spike frame (the centre by default; between two frames, each
  method's frames on either side are interpolated) and conversion rate, at sensor resolution or xN
  (`find_gt_folder_pairs`, `evaluate_gt_folder`);
- the fixed synthetic validation sets of `synth.validation_segments`, batched in torch
  (`synthetic_scores`, and `net_scores` / `baseline_scores` for the trainer): held-out stills with
  camera motion, plus a slice of held-out video clips with real frame-to-frame motion.

Methods:
- net-full, net-lite (bundled weights for the scale) or net:NAME (`--weights`): Spk2VidNet, run
  from the first block of the stream with its recurrent state;
- TFP41: mean of 41 spike frames around the block centre, bicubic upsampling (the paper's
  baseline); TFP21 likewise over 21 frames (REDS_BASE folders); TFI41: inverse inter-spike
  interval within 41 frames, bicubic;
- oracle: bicubic upsampling of the clean LR frame (the ground truth area-downscaled), i.e. a
  perfect sensor reading followed by interpolation.
Near the ends of a stream a classical window shrinks to the widest one centred on the block centre.

Metrics follow `metrics.py`: intensity = firing rate / conversion rate, clipped to [0, 1],
one grey channel, `scale` border pixels cropped. Each frame is scored on its own; a sequence's
figure is the mean over its frames, the overall figure the mean over sequences, and the
PSNR-vs-position curve the mean over sequences at each block position (0 = first block).

Every stream carries its conversion rate, so figures are also given per rate bin (RATE_BINS), and
each method's PSNR is reported as a gain over TFP41 (what denoising buys) and over the oracle
(what super-resolution buys: a pure denoiser cannot exceed 0 there).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile
import torch
import torch.nn.functional as F

from spk2vid_cli.atomic import atomic_write
from spk2vid_cli.classical import TFI, TFP, bicubic
from spk2vid_cli.errors import InputError, OutputError
from spk2vid_cli.net import BACKWARD_CHUNK, RUN_UP, NetReconstructor
from spk2vid_cli.simulate import area_downscale, to_luminance
from spk2vid_cli.spikes import SpikeRecording, open_recording
from spk2vid_cli.training.metrics import psnr, ssim
from spk2vid_cli.training.synth import Segment
from spk2vid_cli.windows import Block
from spk2vid_model.geometry import CLASSICAL_WINDOW, STRIDE, WINDOW
from spk2vid_model.model import Spk2VidNet

NET_CHUNK = 9  # blocks per network call on the synthetic set (bounds memory, state carries over)
RATE_BINS = (("rate < 0.2", 0.0, 0.2), ("rate 0.2-0.5", 0.2, 0.5), ("rate >= 0.5", 0.5, math.inf))
BASELINE, ORACLE = "TFP41", "oracle"  # the methods gains are measured against
CONVENTIONS = ("intensity = firing rate / conversion rate, clipped to [0, 1]; grey; `scale` border pixels "
               "cropped; SSIM: Gaussian 11x11, sigma 1.5, K1 0.01, K2 0.03; means over frames, then sequences")


@dataclass
class Scores:
    """Per-frame PSNR (dB) and SSIM of one method: arrays (streams, block positions), NaN where absent;
    `rate`: the conversion rate of each stream."""

    psnr: np.ndarray
    ssim: np.ndarray
    rate: np.ndarray

    def summary(self) -> dict:
        return {"psnr": _mean(self.psnr), "ssim": _mean(self.ssim), "psnr_by_position": _mean_by_position([self])}

    def streams(self, keep: np.ndarray) -> "Scores":
        """The scores of the streams where `keep` (a boolean per stream) is true."""
        return Scores(self.psnr[keep], self.ssim[keep], self.rate[keep])


def _mean(values: np.ndarray) -> float:
    """Mean of the per-stream means (streams weigh equally however long they are)."""
    return float(np.nanmean(np.nanmean(values, axis=-1)))


def _mean_by_position(scores: list[Scores]) -> list[float]:
    """PSNR per block position, averaged over every stream of `scores` that reaches it."""
    length = max(s.psnr.shape[-1] for s in scores)
    rows = [np.pad(s.psnr, ((0, 0), (0, length - s.psnr.shape[-1])), constant_values=np.nan) for s in scores]
    return np.nanmean(np.concatenate(rows), axis=0).round(4).tolist()


def score(pred: torch.Tensor, gt: torch.Tensor, rate: float | torch.Tensor, crop: int) -> Scores:
    """Scores of predictions (B, N, 1, H, W) against ground truth, both in firing-rate units.

    `rate`: one number or one per stream (B,). Streams are scored one at a time to bound memory.
    """
    rates = torch.as_tensor(rate).expand(len(pred))
    per_stream = [[metric(p, t, r, crop)[:, 0].cpu().numpy() for metric in (psnr, ssim)]
                  for p, t, r in zip(pred, gt, rates)]
    return Scores(*(np.stack(values) for values in zip(*per_stream)), rates.double().cpu().numpy())


# --- The synthetic validation set, batched --------------------------------------------------------------


def stream_from_blocks(blocks: torch.Tensor, stride: int) -> torch.Tensor:
    """The spike stream (B, T, h, w) that consecutive overlapping blocks (B, N, window, h, w) were cut from."""
    return torch.cat([blocks[:, :-1, :stride].flatten(1, 2), blocks[:, -1]], dim=1)


def predict_tfp(blocks: torch.Tensor, stride: int, scale: int, window: int = CLASSICAL_WINDOW) -> torch.Tensor:
    """TFP over `window` frames around each block centre (shrunk to fit at the ends), bicubic: (B, N, 1, H, W)."""
    stream = stream_from_blocks(blocks, stride)
    length, half = stream.shape[1], window // 2
    centres = torch.arange(blocks.shape[1]) * stride + blocks.shape[2] // 2
    reach = torch.minimum(torch.minimum(centres, length - 1 - centres), torch.tensor(half))
    totals = F.pad(stream.cumsum(1), (0, 0, 0, 0, 1, 0))
    counts = totals[:, centres + reach + 1] - totals[:, centres - reach]
    means = counts / (2 * reach + 1).to(counts).reshape(1, -1, 1, 1)
    return bicubic(means, scale)[:, :, None]


def predict_net(net: Spk2VidNet, blocks: torch.Tensor, chunk: int = NET_CHUNK,
                lens_blur: float | None = None, both_ways: bool = False) -> torch.Tensor:
    """The network over whole streams (B, N, window, h, w), `chunk` blocks per call, state carried over;
    a network that takes the lens blur is told `lens_blur` (None: unknown), others nothing. `both_ways`:
    averaged with backward runs over the reversed streams, in the chunks of `NetReconstructor`.

    Output is clamped to [0, 1] as `NetReconstructor` does. Runs in bf16 autocast on CUDA and in fp32 on
    the CPU, so CPU scores compare across machines.
    """
    forward = _run_net(net, blocks, chunk, lens_blur)
    if not both_ways:
        return forward
    backward, count = [], blocks.shape[1]
    for start in range(0, count, BACKWARD_CHUNK):
        stop = min(start + BACKWARD_CHUNK + RUN_UP, count)
        backward.append(_run_net(net, blocks[:, start:stop].flip(1, 2), chunk, lens_blur).flip(1)[:, :BACKWARD_CHUNK])
    return (forward + torch.cat(backward, 1)) / 2


def _run_net(net: Spk2VidNet, blocks: torch.Tensor, chunk: int, lens_blur: float | None) -> torch.Tensor:
    """`predict_net` one way."""
    outputs, state = [], None
    told = lens_blur is not None and net.config.blur_input
    blur = torch.full(blocks.shape[:1], lens_blur, device=blocks.device) if told else None
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=blocks.is_cuda)
    with torch.no_grad(), autocast:
        for start in range(0, blocks.shape[1], chunk):
            hr, state = net(blocks[:, start:start + chunk], state, blur)
            outputs.append(hr.float().clamp_(0, 1))  # as NetReconstructor; the metrics clip anyway
    return torch.cat(outputs, 1)


def baseline_scores(segment: Segment, scale: int, stride: int) -> dict[str, Scores]:
    """TFP41 + bicubic and the clean-LR bicubic oracle on a validation segment (no oracle at x1: there the
    clean LR frame is the ground truth itself)."""
    crop = scale
    scores = {BASELINE: score(predict_tfp(segment.blocks, stride, scale), segment.gt, segment.rate, crop)}
    if scale > 1:
        scores[ORACLE] = score(bicubic(segment.lr_clean, scale), segment.gt, segment.rate, crop)
    return scores


def net_scores(net: Spk2VidNet, segment: Segment, lens_blur: float | None = None, both_ways: bool = False) -> Scores:
    """The network's scores on a validation segment, on the segment's device, told `lens_blur` if it takes
    it, run `both_ways` or forwards only; from blocks wider than the network's window it reads the middle
    frames (the same centres)."""
    cut = (segment.blocks.shape[2] - net.config.window) // 2
    if cut < 0:
        raise ValueError(f"{net.config.name} needs {net.config.window}-frame blocks, "
                         f"the segment has {segment.blocks.shape[2]}")
    blocks = segment.blocks[:, :, cut:cut + net.config.window]
    return score(predict_net(net, blocks, lens_blur=lens_blur, both_ways=both_ways), segment.gt, segment.rate,
                 net.config.scale)


def synthetic_scores(segments: dict[str, Segment], nets: dict[str, Spk2VidNet], scale: int, stride: int,
                     device: torch.device, lens_blur: float | None = None,
                     both_ways: bool = False) -> dict[str, dict[str, Scores]]:
    """Every network (told `lens_blur` if it takes it, run `both_ways` or not) and the baselines on each
    synthetic validation set (name -> segment), one sequence each."""
    results = {}
    for name, segment in segments.items():
        segment = segment.to(device)
        nets_scores = {label: net_scores(net.to(device).eval(), segment, lens_blur, both_ways)
                       for label, net in nets.items()}
        results[name] = {**nets_scores, **baseline_scores(segment, scale, stride)}
    return results


# --- Recordings with ground truth ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A simulated recording and its ground-truth TIFF stack."""

    name: str
    spikes: Path
    truth: Path


def truth_for(spikes: Path) -> Path | None:
    """The ground truth of `X.dat`: `X.gt.tif` beside it, else `gt.tif` in the same folder."""
    for candidate in (spikes.with_name(spikes.stem + ".gt.tif"), spikes.parent / "gt.tif"):
        if candidate.is_file():
            return candidate
    return None


def find_pairs(paths: list[Path], truth: Path | None = None) -> list[Pair]:
    """Pairs from .dat files and folders (searched recursively); `truth` names the GT of a single .dat."""
    if truth is not None:
        if len(paths) != 1 or not paths[0].is_file():
            raise InputError(f"--gt {truth}: give exactly one spike file with it, or drop --gt to pair by name")
        return [Pair(paths[0].stem, paths[0], truth)]
    pairs = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder; check the path")
        for spikes in sorted(path.rglob("*.dat")) if path.is_dir() else [path]:
            found = truth_for(spikes)
            if found is None and path.is_file():
                raise InputError(f"{spikes}: no ground truth beside it ({spikes.stem}.gt.tif or gt.tif); "
                                 "pass --gt or make one with spk2vid simulate --save-gt")
            if found is not None:
                name = spikes.relative_to(path).with_suffix("").as_posix() if path.is_dir() else spikes.stem
                pairs.append(Pair(name, spikes, found))
    if not pairs:
        raise InputError(f"{', '.join(map(str, paths))}: no .dat with a ground-truth TIFF found; "
                         "make pairs with spk2vid simulate --save-gt")
    return pairs


@dataclass(frozen=True)
class Truth:
    """An opened ground-truth stack: metadata plus frames read one at a time."""

    spike_frames: list[int]
    rate: float
    scale: int
    read: Callable[[int], np.ndarray]


def open_truth(path: Path, tif: tifffile.TiffFile) -> Truth:
    """Check a `--save-gt` stack's metadata; frames come from `tif` page by page."""
    meta = (tif.shaped_metadata or [{}])[0]
    missing = [key for key in ("spike_frames", "rate", "downscale") if key not in meta]
    if missing:
        raise InputError(f"{path}: no {', '.join(missing)} in its metadata; write it with spk2vid simulate --save-gt")
    if len(meta["spike_frames"]) != len(tif.pages):
        raise InputError(f"{path}: {len(tif.pages)} pages for {len(meta['spike_frames'])} spike frames; "
                         "the file is damaged, simulate it again")
    return Truth(list(meta["spike_frames"]), float(meta["rate"]), int(meta["downscale"]),
                 lambda k: tif.pages[k].asarray())


def blocks_at(recording: SpikeRecording, centres: list[int], window: int, shrink: bool) -> Iterator[Block]:
    """Blocks of `window` frames centred on `centres`; with `shrink`, narrowed to fit inside the recording."""
    for index, centre in enumerate(centres):
        half = min(window // 2, centre, recording.num_frames - 1 - centre) if shrink else window // 2
        if half < 0 or centre - half < 0 or centre + half >= recording.num_frames:
            raise InputError(f"{recording.path}: ground-truth frame {centre} has no {window}-frame block around it; "
                             f"simulate with the default --gt-window {WINDOW}")
        yield Block(index, centre, recording.frames(centre - half, centre + half + 1), recording)


def frame_at(recording: SpikeRecording, method: NetReconstructor | TFP | TFI, centres: list[int],
             shrink: bool) -> np.ndarray:
    """`method`'s frame at the last of `centres`, from a fresh start over blocks centred at each of them."""
    method.reset()
    output = None
    for block in blocks_at(recording, centres, method.window, shrink):
        output = method.reconstruct(block)
    return output


def score_frames(frames: Iterator[np.ndarray], truth: Truth) -> Scores:
    """Scores of a sequence of (H, W) firing-rate frames against the ground truth, one frame at a time."""
    pairs = ((torch.from_numpy(np.ascontiguousarray(frame)), torch.from_numpy(truth.read(k)))
             for k, frame in enumerate(frames))
    values = [(psnr(p, t, truth.rate, truth.scale).item(), ssim(p, t, truth.rate, truth.scale).item())
              for p, t in pairs]
    per_frame = np.array(values).T[:, None]
    return Scores(per_frame[0], per_frame[1], np.array([truth.rate]))


NetsForScale = Callable[[int], dict[str, NetReconstructor]]


def evaluate_pair(pair: Pair, nets_for: NetsForScale,
                  progress: Callable[[str], None] = lambda label: None) -> dict[str, Scores]:
    """Every method on one pair; `nets_for(scale)` gives the networks for the pair's scale (label -> net);
    `progress(label)` is called before each method."""
    try:
        tif = tifffile.TiffFile(pair.truth)
    except (OSError, tifffile.TiffFileError) as err:
        raise InputError(f"{pair.truth}: not a readable TIFF ({err}); "
                         "give the file of spk2vid simulate --save-gt") from None
    with tif, open_recording(pair.spikes) as recording:
        truth = open_truth(pair.truth, tif)
        scale = truth.scale
        if (recording.height * scale, recording.width * scale) != tuple(tif.pages[0].shape):
            raise InputError(f"{pair.truth}: {tif.pages[0].shape} frames do not match {pair.spikes} "
                             f"({recording.height}x{recording.width}) at x{scale}; pair the files written together")

        def run(label: str, method: NetReconstructor | TFP | TFI, shrink: bool) -> Scores:
            progress(label)
            blocks = blocks_at(recording, truth.spike_frames, method.window, shrink)
            return score_frames((method.reconstruct(block) for block in blocks), truth)

        scores = {}
        for label, net in nets_for(scale).items():
            net.reset()
            scores[label] = run(label, net, shrink=False)
        scores["TFP41"] = run("TFP41", TFP(scale, CLASSICAL_WINDOW), shrink=True)
        scores["TFI41"] = run("TFI41", TFI(scale, CLASSICAL_WINDOW), shrink=True)
        progress("oracle")
        clean = (bicubic(area_downscale(torch.from_numpy(truth.read(k)), scale), scale).numpy()
                 for k in range(len(truth.spike_frames)))
        scores["oracle"] = score_frames(clean, truth)
    return scores


def evaluate_recordings(pairs: list[Pair], nets_for: NetsForScale,
                        progress: Callable[[str], None] = lambda step: None) -> dict[str, dict[str, Scores]]:
    """{pair name: {method: Scores}} over all pairs; `progress("NAME: METHOD")` is called before each method."""
    results = {}
    for pair in pairs:
        results[pair.name] = evaluate_pair(pair, nets_for, lambda label: progress(f"{pair.name}: {label}"))
    return results


# --- Folders in the REDS_BASE layout: spike/NAME.dat + gt/NAME.png ----------------------------------------

GT_SUFFIXES = (".png", ".tif", ".tiff")


def is_gt_folder(path: Path) -> bool:
    """True for a folder in Spike-Zoo's REDS_BASE layout (subfolders `spike/` and `gt/`)."""
    return (path / "spike").is_dir() and (path / "gt").is_dir()


def find_gt_folder_pairs(folder: Path) -> list[Pair]:
    """Every `spike/NAME.dat` with its `gt/NAME.png` (or .tif); a spike file without one is refused."""
    pairs = []
    for spikes in sorted((folder / "spike").glob("*.dat")):
        truth = next((t for t in (folder / "gt" / (spikes.stem + s) for s in GT_SUFFIXES) if t.is_file()), None)
        if truth is None:
            raise InputError(f"{spikes}: no ground truth gt/{spikes.stem}.png (or .tif) in {folder}; "
                             "add it or move the spike file out")
        pairs.append(Pair(spikes.stem, spikes, truth))
    if not pairs:
        raise InputError(f"{folder / 'spike'}: no .dat files; the REDS_BASE layout is spike/NAME.dat + gt/NAME.png")
    return pairs


def read_gt_image(path: Path) -> np.ndarray:
    """A ground-truth image as grey intensity in [0, 1] (float32, (H, W))."""
    try:
        tiff = path.suffix.lower() in (".tif", ".tiff")
        image = tifffile.imread(path) if tiff else iio.imread(path, plugin="pillow")
    except Exception as err:  # imageio raises many kinds for a damaged or foreign file
        raise InputError(f"{path}: not a readable image ({type(err).__name__}); give a PNG or TIFF") from None
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise InputError(f"{path}: {image.shape} is not a grey or RGB image; give one frame as PNG or TIFF")
    return np.clip(to_luminance(image), 0.0, 1.0)


def net_centres(centre: int, window: int, stride: int) -> range:
    """Block centres from the start of the stream to `centre`, `stride` apart: the network's run-up."""
    half = window // 2
    return range(centre - stride * ((centre - half) // stride), centre + 1, stride)


def reads_at(centre: float) -> list[tuple[int, float]]:
    """(spike frame, weight) of the frames whose linear interpolation is the frame at `centre`: the
    frame itself for a whole number, else the two around it (150.25 -> (150, 0.75), (151, 0.25))."""
    below = math.floor(centre)
    share = centre - below
    return [(below, 1.0)] if share == 0 else [(below, 1.0 - share), (below + 1, share)]


def evaluate_gt_frame(pair: Pair, nets_for: NetsForScale, rate: float, centre: float | None = None,
                      stride: int = STRIDE, progress: Callable[[str], None] = lambda label: None) -> dict[str, Scores]:
    """Every method on one recording whose ground truth is the frame at spike frame `centre` (default:
    the middle frame). The network runs from the start of the stream in blocks `stride` apart, so that
    its last block is centred there; TFP21, TFP41 and TFI41 look at that centre only. A `centre`
    between two spike frames reads each method's frames at both (a network in a run of its own to
    each) and interpolates them linearly (`reads_at`)."""
    image = read_gt_image(pair.truth)
    with open_recording(pair.spikes) as recording:
        scale = image.shape[0] // recording.height
        if scale not in (1, 2, 4, 8) or image.shape != (recording.height * scale, recording.width * scale):
            raise InputError(f"{pair.truth}: {image.shape[1]}x{image.shape[0]} does not match {pair.spikes} "
                             f"({recording.width}x{recording.height}) at x1, x2, x4 or x8; pair the right files")
        last = recording.num_frames - 1
        centre = last // 2 if centre is None else centre
        if not 0 <= centre <= last:
            raise InputError(f"{pair.spikes}: --centre {centre:g} is outside its {recording.num_frames} frames")
        reads = reads_at(centre)
        truth = Truth([reads[0][0]], rate, scale, lambda k: image * rate)

        def run(label: str, method: NetReconstructor | TFP | TFI, centres: Callable[[int], list[int]],
                shrink: bool) -> Scores:
            progress(label)
            frame = sum(weight * frame_at(recording, method, centres(time), shrink) for time, weight in reads)
            return score_frames(iter([frame]), truth)

        scores = {}
        for label, net in nets_for(scale).items():
            half = net.window // 2
            if not half <= reads[0][0] <= reads[-1][0] <= last - half:
                raise InputError(f"{pair.spikes}: the network needs a {net.window}-frame block around --centre "
                                 f"{centre:g}; pick one from {half} to {last - half}")
            scores[label] = run(label, net, lambda time: list(net_centres(time, net.window, stride)), shrink=False)
        for window in (WINDOW, CLASSICAL_WINDOW):
            scores[f"TFP{window}"] = run(f"TFP{window}", TFP(scale, window), lambda time: [time], shrink=True)
        scores[f"TFI{CLASSICAL_WINDOW}"] = run(f"TFI{CLASSICAL_WINDOW}", TFI(scale, CLASSICAL_WINDOW),
                                               lambda time: [time], shrink=True)
        if scale > 1:
            progress(ORACLE)
            clean = bicubic(area_downscale(torch.from_numpy(truth.read(0)), scale), scale).numpy()
            scores[ORACLE] = score_frames(iter([clean]), truth)
    return scores


def evaluate_gt_folder(folder: Path, nets_for: NetsForScale, rate: float, centre: float | None = None,
                       progress: Callable[[str], None] = lambda step: None) -> dict[str, dict[str, Scores]]:
    """{recording name: {method: Scores}} over a REDS_BASE-layout folder (see `evaluate_gt_frame`)."""
    return {pair.name: evaluate_gt_frame(pair, nets_for, rate, centre,
                                         progress=lambda label, name=pair.name: progress(f"{name}: {label}"))
            for pair in find_gt_folder_pairs(folder)}


# --- Reports ---------------------------------------------------------------------------------------------


def methods_of(results: dict[str, dict[str, Scores]]) -> list[str]:
    """Method labels in first-seen order."""
    return list(dict.fromkeys(label for scores in results.values() for label in scores))


def overall(results: dict[str, dict[str, Scores]]) -> dict[str, dict]:
    """Per method: PSNR and SSIM as means of the sequence means, the PSNR-vs-position curve, and the
    PSNR gain over TFP41 and over the clean-LR oracle where those were scored."""
    summary = {}
    for label in methods_of(results):
        scores = [seq[label] for seq in results.values() if label in seq]
        summary[label] = {"psnr": float(np.mean([_mean(s.psnr) for s in scores])),
                          "ssim": float(np.mean([_mean(s.ssim) for s in scores])),
                          "sequences": len(scores),
                          "streams": sum(len(s.psnr) for s in scores),
                          "psnr_by_position": _mean_by_position(scores)}
    for reference in (BASELINE, ORACLE):
        if reference in summary:
            for figures in summary.values():
                figures[f"gain_vs_{reference}"] = figures["psnr"] - summary[reference]["psnr"]
    return summary


def by_rate(results: dict[str, dict[str, Scores]]) -> dict[str, dict[str, dict[str, Scores]]]:
    """The results split by conversion-rate bin (RATE_BINS): {bin: {sequence: {method: Scores}}}, bins
    without streams left out."""
    split = {}
    for label, low, high in RATE_BINS:
        part = {}
        for name, scores in results.items():
            keep = {method: s.streams((s.rate >= low) & (s.rate < high)) for method, s in scores.items()}
            if all(len(s.psnr) for s in keep.values()):
                part[name] = keep
        if part:
            split[label] = part
    return split


def report(results: dict[str, dict[str, Scores]]) -> dict:
    """The JSON report: conventions, overall figures, figures per rate bin and per sequence (per-frame PSNR
    included)."""
    sequences = {name: {label: {**s.summary(), "rates": np.round(s.rate, 4).tolist(),
                                "psnr_per_frame": np.round(s.psnr, 4).tolist()}
                        for label, s in scores.items()} for name, scores in results.items()}
    bins = {label: overall(part) for label, part in by_rate(results).items()}
    return {"conventions": CONVENTIONS, "overall": overall(results), "by_rate": bins, "sequences": sequences}


def write_curve(results: dict[str, dict[str, Scores]], path: Path) -> Path | None:
    """PSNR per block position as CSV at `path`, and a PNG beside it when matplotlib is installed.

    Returns the PNG path, or None when no plot was made.
    """
    summary = overall(results)
    labels = list(summary)
    curves = [summary[label]["psnr_by_position"] for label in labels]

    def write(partial: Path) -> None:
        with partial.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["position", *labels])
            for position in range(max(map(len, curves))):
                writer.writerow([position, *(c[position] if position < len(c) else "" for c in curves)])

    _write_file(path, write, "curve")
    return _plot_curve(labels, curves, path.with_suffix(".png"))


def _plot_curve(labels: list[str], curves: list[list[float]], path: Path) -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for label, curve in zip(labels, curves):
        axes.plot(curve, label=label)
    axes.set(xlabel="block position in stream", ylabel="PSNR (dB)", title="PSNR vs position in stream")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def report_json(results: dict[str, dict[str, Scores]]) -> str:
    """The full report as indented JSON text."""
    return json.dumps(report(results), indent=1) + "\n"


def write_report(results: dict[str, dict[str, Scores]], path: Path) -> None:
    _write_file(path, lambda partial: partial.write_text(report_json(results)), "report")


def _write_file(path: Path, write: Callable[[Path], None], what: str) -> None:
    """Write `path` (its folders made first) under a temporary name and rename it when complete: an
    interrupted run leaves the previous file or none, never half of one."""
    def error(path: Path, err: OSError) -> OutputError:
        return OutputError(f"{path}: cannot write the {what} ({err.strerror or err}); check the folder")

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise error(path, err) from None
    atomic_write(path, write, error=error)
