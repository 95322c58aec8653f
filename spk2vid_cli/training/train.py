"""Segmented training of Spk2VidNet with state transfer: the engine behind `spk2vid train`.

Each step takes the next segment of S blocks from B simulated streams (`synth.StreamBatch`),
runs the network from the recurrent state the previous segment left (detached: truncated
back-propagation through time) and takes an Adam step on the loss in intensity units
(prediction and truth divided by the stream's conversion rate, the scale the metrics use, so dim
and bright sensors count alike): L1, or Charbonnier sqrt(d^2 + eps^2), which keeps a gradient
for small errors where detail lives. Streams with a conversion rate >= BRIGHT_RATE can be
weighted up (`bright_weight`): there denoising is nearly free and what is left to learn is
super-resolution. `init` warm-starts the weights from a weights file (every tensor whose name
and shape match; the rest keep their initialisation), e.g. the committed weights. After
`stream_blocks` blocks the streams end and new ones start with empty history. The learning rate
drops by `lr_gamma` every `lr_step` steps (the paper: x0.7).

An exponential moving average (EMA) of the weights is what gets validated and exported. Validation
runs the EMA network over the fixed synthetic validation set (`validation_segments` of the "val"
split) and reports its PSNR next to TFP41 + bicubic and the clean-LR bicubic oracle.

`OUT/checkpoint.pt` holds everything needed to continue exactly: weights, EMA, optimiser,
scheduler, step, wall time, and per process the random states (torch, CUDA, numpy, python), the
recurrent state and the data position: the generator state the current streams were drawn from
and how many of their blocks were used (resuming redraws the streams and skips those blocks).
Checkpoints are written every `ckpt_every` steps and when training stops: at `steps`, at the
`max_minutes` limit, or on SIGTERM / SIGINT. Logs: `OUT/log.jsonl` and `OUT/log.csv`. A resumed
run matches an uninterrupted one bit for bit on the CPU; on CUDA, up to non-deterministic kernels.

Several GPUs: launch with `torchrun --nproc-per-node N -m spk2vid_cli train ...`; each process
draws its own streams and the gradients are averaged (all-reduce) before every step. Process 0
validates, logs and writes the checkpoint.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import pickle
import platform
import random
import signal
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.torch_version import TorchVersion

from spk2vid_cli.errors import InputError, OutputError
from spk2vid_cli.net import resolve_device
from spk2vid_cli.signals import stop_requests
from spk2vid_cli.training.evaluate import Scores, baseline_scores, net_scores
from spk2vid_cli.training.options import TrainOptions
from spk2vid_cli.training.sources import SourcePool
from spk2vid_cli.training.synth import (QUIET_SENSOR, Draws, SensorRanges, Segment, StreamBatch,
                                        validation_segments)
from spk2vid_model.errors import reason
from spk2vid_model.geometry import STRIDE
from spk2vid_model.model import CONFIGS, ModelConfig, Spk2VidNet, StreamState, count_parameters
from spk2vid_model.weights import load_weights, save_weights

CHECKPOINT = "checkpoint.pt"
LOG_FIELDS = ("step", "loss", "lr", "steps_per_s", "elapsed_s", "val_psnr", "val_ssim", "val_psnr_tfp41",
              "val_psnr_oracle")
LOSSES = ("l1", "charbonnier", "l2")
CHARBONNIER_EPS = 1e-3
BRIGHT_RATE = 0.5  # conversion rate from which a stream counts as bright (`bright_weight`)
# Defaults that depend on the device: (CUDA, CPU).
DEVICE_DEFAULTS = {"batch": (8, 2), "render_step": (1, 5)}
# What a checkpoint holds besides tensors and plain types; it is read with weights_only=True.
CHECKPOINT_GLOBALS = [TorchVersion]  # sessions' "torch": torch.__version__


@dataclass
class Streams:
    """The B training streams of one process and where they are."""

    batch: StreamBatch
    start_state: torch.Tensor       # generator state the streams were drawn from
    blocks_done: int = 0
    state: StreamState | None = None
    blur: torch.Tensor | None = None  # the lens blur the network is told (NaN: hidden), with blur_input only


def _rng_states() -> dict:
    """Random states of torch (CPU and CUDA), numpy and python, as tensors and plain types."""
    np_state = np.random.get_state(legacy=False)
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {**np_state, "state": {k: torch.as_tensor(np.asarray(v).astype(np.int64)) if k == "key" else v
                                            for k, v in np_state["state"].items()}},
            "python": random.getstate()}


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    np_state = states["numpy"]
    key = np_state["state"]["key"].numpy().astype(np.uint32)
    np.random.set_state({**np_state, "state": {**np_state["state"], "key": key}})
    random.setstate(states["python"])


def _training_device(spec: str) -> torch.device:
    """`--device` resolved; a bare "cuda" means this process's GPU under torchrun (LOCAL_RANK)."""
    device = resolve_device(spec)
    if device.type == "cuda":
        index = int(os.environ.get("LOCAL_RANK", "0")) if device.index is None else device.index
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
    return device


class Trainer:
    """One training run; `run()` trains until done, stopped, or out of time, and returns the summary.

    `model_config` and the pools override `options.config` and `options.data` (tests use tiny ones).
    """

    def __init__(self, options: TrainOptions, model_config: ModelConfig | None = None,
                 train_pool: SourcePool | None = None, val_pool: SourcePool | None = None,
                 say: Callable[[str], None] = print):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.rank = dist.get_rank() if self.world > 1 else 0
        self.device = _training_device(options.device)
        cuda = self.device.type == "cuda"
        torch.backends.cudnn.benchmark = cuda  # fixed shapes: let cuDNN pick the fastest kernels
        options = replace(options, **{name: values[0] if cuda else values[1] for name, values in DEVICE_DEFAULTS.items()
                                      if getattr(options, name) is None})
        if options.config not in CONFIGS and model_config is None:
            raise InputError(f"--config {options.config}: unknown; use one of {', '.join(CONFIGS)}")
        if options.loss not in LOSSES:
            raise InputError(f"--loss {options.loss}: unknown; use one of {', '.join(LOSSES)}")
        self.options, self.say = options, say if self.rank == 0 else (lambda text: None)
        self.model_config = model_config or CONFIGS[options.config]
        if options.velocity_weight and not self.model_config.compensate:
            raise InputError(f"--velocity-weight: {self.model_config.name} has no velocity read-out; use a "
                             "compensating configuration (x1-lite) or leave it out")
        if options.blur_hidden and not self.model_config.blur_input:
            raise InputError(f"--blur-hidden: {self.model_config.name} is not told the lens blur; use a "
                             "configuration that is (x1-lite) or leave it out")
        torch.manual_seed(options.seed)
        # channels-last like inference (the network turns its input so): about 18 % faster steps on a CPU
        self.net = Spk2VidNet(self.model_config).to(self.device, memory_format=torch.channels_last)
        self.warm_start, fresh = (None, []) if options.init is None else warm_start(self.net, options.init)
        self.ema = copy.deepcopy(self.net).requires_grad_(False).eval()
        self._build_optimizer(fresh if options.fresh_lr_factor != 1 else [])
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
        self.train_pool = train_pool or SourcePool(options.data, "train")
        self.val_pool = val_pool or SourcePool(options.data, "val")
        self.generator = torch.Generator(self.device).manual_seed(options.seed * 1000 + self.rank)
        self.streams = self._new_streams()
        self.step, self.seconds, self.sessions = 0, 0.0, []
        self.validation: dict | None = None
        self._val_set: Segment | None = None
        self._baselines: dict[str, Scores] | None = None
        self.stop_reason: str | None = None
        if options.resume is not None:
            self._load(options.resume)
        self._session = {"hardware": _hardware(self.device, self.world), "torch": torch.__version__,
                         "first_step": self.step + 1}
        if self.warm_start is not None and options.resume is None:
            self._session["warm_start"] = self.warm_start
        self.sessions.append(self._session)
        self._started = time.monotonic()

    # --- data -----------------------------------------------------------------------------------

    def _new_streams(self) -> Streams:
        start_state = self.generator.get_state()
        opts = self.options
        draw = Draws(self.generator)  # each new set of streams draws its detail density and sensor
        supersample = 1 + draw.integer(opts.supersample) if opts.supersample > 1 else 1
        quiet = opts.quiet_share > 0 and draw.uniform() < opts.quiet_share
        sensor = QUIET_SENSOR if quiet else SensorRanges()
        batch = StreamBatch(self.train_pool, opts.batch, self.model_config.scale, opts.crop, self.model_config.window,
                            STRIDE, self.device, self.generator, sensor=sensor, render_step=opts.render_step,
                            supersample=supersample, max_speed=opts.max_speed, max_blur=opts.lens_blur,
                            detail_bias=opts.detail_bias)
        return Streams(batch, start_state, blur=self._told_blur(batch))

    def _told_blur(self, batch: StreamBatch) -> torch.Tensor | None:
        """What a blur_input network is told of each stream's lens blur: sigma, or NaN for a
        `blur_hidden` share of the streams."""
        if not self.model_config.blur_input:
            return None
        count = len(batch.scenes)
        sigma = batch.blur if batch.blur is not None else torch.zeros(count, device=self.device)
        hidden = torch.rand(count, generator=self.generator, device=self.device) < self.options.blur_hidden
        return torch.where(hidden, torch.nan, sigma)

    def _next_segment(self) -> Segment:
        """The next segment of the current streams, or the first of new ones when they are used up."""
        if self.streams.blocks_done >= self.options.stream_blocks:
            self.streams = self._new_streams()
        count = min(self.options.segment, self.options.stream_blocks - self.streams.blocks_done)
        self.streams.blocks_done += count
        return self.streams.batch.next_segment(count)

    def _replay_streams(self, start_state: torch.Tensor, blocks_done: int) -> Streams:
        """Streams drawn again from `start_state`, with their first `blocks_done` blocks skipped."""
        self.generator.set_state(start_state)
        streams = self._new_streams()
        while streams.blocks_done < blocks_done:
            count = min(self.options.segment, blocks_done - streams.blocks_done)
            streams.batch.next_segment(count)
            streams.blocks_done += count
        return streams

    # --- one step ---------------------------------------------------------------------------------

    def train_step(self) -> float:
        """One optimiser step on the next segment; returns the loss."""
        segment = self._next_segment()
        self.net.train()
        with self.autocast:
            hr, state = self.net(segment.blocks, self.streams.state, self.streams.blur)
        loss = self.loss(hr.float(), segment)
        if self.options.velocity_weight:
            loss = loss + self.options.velocity_weight * velocity_error(state.velocity.float(), segment.velocity[:, -1])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world > 1:
            self._average_gradients()
        self.optimizer.step()
        self.scheduler.step()
        self.streams.state = state.detach()
        self._update_ema()
        self.step += 1
        return loss.item()

    def loss(self, hr: torch.Tensor, segment: Segment) -> torch.Tensor:
        """The training loss of a segment's output, in intensity units, bright streams weighted."""
        rate = segment.rate.reshape(-1, 1, 1, 1, 1)
        error = hr / rate - segment.gt / rate
        if self.options.loss == "charbonnier":
            error = torch.sqrt(error * error + CHARBONNIER_EPS ** 2)
        error = error * error if self.options.loss == "l2" else error.abs()
        per_stream = error.flatten(1).mean(1)
        weight = torch.where(segment.rate >= BRIGHT_RATE, self.options.bright_weight, 1.0)
        return (weight * per_stream).sum() / weight.sum()

    def _average_gradients(self) -> None:
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        flat = torch.cat([g.flatten() for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        for grad, part in zip(grads, flat.split([g.numel() for g in grads])):
            grad.copy_(part.view_as(grad))

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.options.ema, (1 + self.step) / (10 + self.step))
        for average, current in zip(self.ema.parameters(), self.net.parameters()):
            average.lerp_(current, 1 - decay)

    # --- validation -------------------------------------------------------------------------------

    def validate(self) -> dict:
        """EMA network vs TFP41 + bicubic vs the clean-LR oracle on the fixed validation set."""
        if self._val_set is None:
            opts, cfg = self.options, self.model_config
            val_set = validation_segments(self.val_pool, cfg.scale, opts.crop, opts.val_blocks, opts.val_streams,
                                          window=cfg.window, stride=STRIDE)
            self._val_set = val_set.to(self.device)
            self._baselines = baseline_scores(self._val_set, cfg.scale, STRIDE)
        scores = {"net": net_scores(self.ema, self._val_set), **self._baselines}
        self.validation = {"step": self.step, **{label: s.summary() for label, s in scores.items()}}
        return self.validation

    # --- checkpoints ------------------------------------------------------------------------------

    def _process_state(self) -> dict:
        state = self.streams.state
        recurrent = None if state is None else vars(state.map(torch.Tensor.cpu))  # StreamState's fields
        return {"start_state": self.streams.start_state.cpu(), "blocks_done": self.streams.blocks_done,
                "recurrent": recurrent, "rng": _rng_states(), "generator": self.generator.get_state()}

    def save_checkpoint(self) -> Path:
        """Write OUT/checkpoint.pt atomically (process 0; every process must call it)."""
        mine = self._process_state()
        processes = [mine]
        if self.world > 1:
            processes = [None] * self.world
            dist.all_gather_object(processes, mine)
        path = Path(self.options.out) / CHECKPOINT
        if self.rank != 0:
            return path
        self._update_session()
        record = {"model_config": self.model_config.to_dict(), "options": _jsonable(asdict(self.options)),
                  "data_shape": self.options.data_shape(), "world": self.world,
                  "step": self.step, "seconds": self.elapsed(), "sessions": self.sessions,
                  "validation": self.validation, "net": self.net.state_dict(), "ema": self.ema.state_dict(),
                  "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                  "fresh": self.fresh, "processes": processes}
        partial = path.with_name(path.name + ".partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(record, partial)
            partial.replace(path)
        except OSError as err:
            partial.unlink(missing_ok=True)
            raise OutputError(f"{path}: cannot write the checkpoint ({err.strerror or err}); check space") from None
        return path

    def _build_optimizer(self, fresh: list[str]) -> None:
        """Adam over the network, the `fresh` tensors in a group of their own at lr x fresh_lr_factor."""
        opts = self.options
        groups = [{"params": [p for name, p in self.net.named_parameters() if name not in fresh]}]
        if fresh:
            groups.append({"params": [p for name, p in self.net.named_parameters() if name in fresh],
                           "lr": opts.lr * opts.fresh_lr_factor})
        self.fresh = fresh
        self.optimizer = torch.optim.Adam(groups, lr=opts.lr)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, opts.lr_step, opts.lr_gamma)

    def _load(self, where: Path) -> None:
        path = Path(where) / CHECKPOINT if Path(where).is_dir() else Path(where)
        if not path.is_file():
            raise InputError(f"--resume {where}: no {CHECKPOINT} there; give a checkpoint file or run folder")
        try:
            record = read_checkpoint(path)
        except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as err:
            raise InputError(f"--resume {where}: {path} is not a readable checkpoint ({reason(err)})") from None
        if record["model_config"] != self.model_config.to_dict():
            raise InputError(f"{path}: trained {record['model_config']['name']}, not {self.model_config.name}; "
                             f"pass --config {record['model_config']['name']}")
        self.net.load_state_dict(record["net"])  # a resumed run continues; --init is ignored
        self.ema.load_state_dict(record["ema"])
        self._build_optimizer(record.get("fresh", []))  # the groups the run was started with
        self.optimizer.load_state_dict(record["optimizer"])
        self.scheduler.load_state_dict(record["scheduler"])
        self.step, self.seconds = record["step"], record["seconds"]
        self.sessions, self.validation = record["sessions"], record["validation"]
        same_data = record["data_shape"] == self.options.data_shape() and record["world"] == self.world
        if not same_data:
            self.say(f"note: {path} was trained with other data options or process count; starting new streams")
            return
        process = record["processes"][self.rank]
        _set_rng_states(process["rng"])
        self.streams = self._replay_streams(process["start_state"], process["blocks_done"])
        self.generator.set_state(process["generator"])
        if process["recurrent"] is not None:
            self.streams.state = StreamState(**process["recurrent"]).map(lambda t: t.to(self.device))

    # --- the loop ---------------------------------------------------------------------------------

    def _should_stop(self) -> bool:
        opts = self.options
        if self.step >= opts.steps:
            self.stop_reason = self.stop_reason or "steps done"
        elif opts.max_minutes is not None and time.monotonic() - self._started >= opts.max_minutes * 60:
            self.stop_reason = self.stop_reason or "time limit"
        stop = torch.tensor([self.stop_reason is not None], device=self.device)
        if self.world > 1:
            dist.broadcast(stop, 0)  # every process stops at the same step
        return bool(stop.item())

    def elapsed(self) -> float:
        """Training wall time in seconds, over every session of this run."""
        return self.seconds + time.monotonic() - self._started

    def _update_session(self) -> None:
        self._session.update(steps=self.step - self._session["first_step"] + 1,
                             seconds=round(time.monotonic() - self._started, 1))

    def _validation_entry(self) -> dict:
        """Validate (process 0 only) and return the figures for the log."""
        if self.rank != 0:
            return {}
        figures = self.validate()
        return {"val_psnr": figures["net"]["psnr"], "val_ssim": figures["net"]["ssim"],
                "val_psnr_tfp41": figures["TFP41"]["psnr"], "val_psnr_oracle": figures.get("oracle", {}).get("psnr")}

    def run(self) -> dict:
        """Train until `steps`, the time limit or a signal; checkpoint, export if asked; return the summary."""
        opts = self.options
        self._started = time.monotonic()
        self.say(f"training {self.model_config.name} ({count_parameters(self.net) / 1e6:.2f}M parameters) on "
                 f"{self._session['hardware']}: batch {opts.batch}, segments of {opts.segment} blocks, streams of "
                 f"{opts.stream_blocks}, {opts.crop}x{opts.crop} LR crops; step {self.step} -> {opts.steps}"
                 + (f" or {opts.max_minutes:g} min" if opts.max_minutes else "") + f"; logs in {opts.out}")
        mark, steps_since, losses = time.monotonic(), 0, []

        def ask_to_stop(signum: int) -> None:  # SIGTERM / SIGINT: stop after this step; a 2nd SIGINT interrupts
            self.stop_reason = signal.Signals(signum).name

        with stop_requests(ask_to_stop, (signal.SIGTERM, signal.SIGINT)):
            while not self._should_stop():
                losses.append(self.train_step())
                steps_since += 1
                validate = self.step % opts.val_every == 0
                if validate or self.step % opts.log_every == 0:
                    entry = {"step": self.step, "loss": float(np.mean(losses)), "lr": self.scheduler.get_last_lr()[0],
                             "steps_per_s": steps_since / (time.monotonic() - mark), "elapsed_s": self.elapsed()}
                    entry |= self._validation_entry() if validate else {}
                    self._log(entry)
                    mark, steps_since, losses = time.monotonic(), 0, []
                if self.step % opts.ckpt_every == 0:
                    self.save_checkpoint()
        if opts.export and (self.validation is None or self.validation["step"] != self.step):
            self._log({"step": self.step, "elapsed_s": self.elapsed(), **self._validation_entry()})
        path = self.save_checkpoint()
        self.say(f"stopped at step {self.step} ({self.stop_reason}); checkpoint {path}")
        summary = self.summary()
        if opts.export and self.rank == 0:
            save_weights(self.ema, opts.export, summary)
            self.say(f"exported the EMA weights to {opts.export}")
        return summary

    def _log(self, entry: dict) -> None:
        """Append to OUT/log.jsonl and OUT/log.csv and print the progress line (process 0)."""
        if self.rank != 0:
            return
        out = Path(self.options.out)
        out.mkdir(parents=True, exist_ok=True)
        with (out / "log.jsonl").open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        table = out / "log.csv"
        new = not table.exists()
        with table.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, LOG_FIELDS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(entry)
        self.say(_progress_line(entry, self.options.steps))

    def summary(self) -> dict:
        """What was trained, on what, for how long, and how it validated (the weights' metadata)."""
        opts = self.options
        self._update_session()
        return {
            "model": self.model_config.name, "parameters": count_parameters(self.net), "steps": self.step,
            "wall_time_s": round(self.elapsed(), 1), "sessions": self.sessions, "stopped": self.stop_reason,
            "data": {"sources": str(opts.data),
                     "train": f"{len(self.train_pool.images)} images, {len(self.train_pool.clips)} clip shots",
                     "val": f"{len(self.val_pool.images)} images, {len(self.val_pool.clips)} clip shots",
                     "val_set": f"{opts.val_streams} streams x {opts.val_blocks} blocks, seed 0, "
                                f"{opts.crop}x{opts.crop} LR"},
            "recipe": {key: getattr(opts, key) for key in ("batch", "segment", "stream_blocks", "crop", "lr",
                                                           "lr_step", "lr_gamma", "ema", "render_step", "seed",
                                                           "bright_weight", "supersample", "quiet_share",
                                                           "max_speed", "lens_blur", "blur_hidden", "detail_bias",
                                                           "velocity_weight", "fresh_lr_factor")}
                      | {"loss": f"{opts.loss} on intensity (firing rate / rate)", "optimizer": "Adam",
                         "precision": "bf16 autocast" if self.device.type == "cuda" else "fp32"},
            "validation": self.validation,
        }


def velocity_error(velocity: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean absolute error (pixels per block) of a velocity read-out (B, 2, h, w) against the true
    motion, over the pixels where that is known (not NaN); 0 where it is known nowhere."""
    known = truth.isfinite()
    return (velocity - truth.nan_to_num()).abs().mul(STRIDE)[known].sum() / known.sum().clamp_min(1)


def warm_start(net: Spk2VidNet, path: Path) -> tuple[dict, list[str]]:
    """Copy into `net` every tensor of the weights at `path` whose name and shape match; returns
    what was taken (the file, tensors copied and left at their initialisation) and the names of the
    parameters left at their initialisation."""
    source, _ = load_weights(path)
    theirs, mine = source.state_dict(), net.state_dict()
    taken = {name: tensor for name, tensor in theirs.items()
             if name in mine and mine[name].shape == tensor.shape}
    net.load_state_dict(taken, strict=False)
    fresh = [name for name, _ in net.named_parameters() if name not in taken]
    return {"from": str(path), "tensors": len(taken), "fresh": len(mine) - len(taken)}, fresh


def read_checkpoint(path: Path) -> dict:
    """The record of a checkpoint, read with weights_only=True: tensors, plain types and CHECKPOINT_GLOBALS."""
    with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
        return torch.load(path, map_location="cpu", weights_only=True)


def _progress_line(entry: dict, steps: int) -> str:
    line = f"step {entry['step']}/{steps}"
    if "loss" in entry:
        line += (f"  loss {entry['loss']:.4f}  lr {entry['lr']:.1e}  {entry['steps_per_s']:.2f} steps/s"
                 f"  {entry['elapsed_s'] / 60:.1f} min")
    if "val_psnr" in entry:
        oracle = entry["val_psnr_oracle"]
        line += (f"  | val {entry['val_psnr']:.2f} dB (TFP41 {entry['val_psnr_tfp41']:.2f}"
                 + (f", oracle {oracle:.2f})" if oracle is not None else ")"))
    return line


def _hardware(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        name = f"CPU {platform.machine()}, {threads} thread{'s' if threads > 1 else ''}"
    return f"{world} x {name}" if world > 1 else name


def _jsonable(options: dict) -> dict:
    return {key: str(value) if isinstance(value, Path) else value for key, value in options.items()}
