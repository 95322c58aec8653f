"""Spk2VidNet weights on disk: `NAME.pt` (a state dict) beside `NAME.json` (config and metadata).

The JSON holds `{"config": ModelConfig as a dict, "meta": {...}}`; `meta` is free-form (training
summary, metrics). Weights are read with `torch.load(weights_only=True)`, so a file can carry
tensors only, never code. Bundled weights live in `model/weights/` (installed as
`spk2vid_model/weights/`) as `x{scale}-{full|lite}.pt`.
"""

import json
import pickle
import re
from pathlib import Path

import torch
import torch.nn as nn

from spk2vid_model.errors import InputError, reason
from spk2vid_model.model import ModelConfig, Spk2VidNet

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
BUNDLED_NAME = re.compile(r"x(\d+)-(full|lite)\.pt")


def save_weights(net: Spk2VidNet, path: Path, meta: dict, half: bool = True) -> None:
    """Write `path` and `path.with_suffix(".json")`, each atomically; `half` stores float16."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: (t.half() if half and t.is_floating_point() else t).detach().cpu()
             for name, t in net.state_dict().items()}
    record = json.dumps({"config": net.config.to_dict(), "meta": meta}, indent=2) + "\n"
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    partial.replace(path)
    partial.write_text(record)
    partial.replace(path.with_suffix(".json"))


def load_weights(path: Path) -> tuple[Spk2VidNet, dict]:
    """The network (float32, CPU, eval mode) and the metadata saved with it.

    A missing, unreadable or mismatched file raises `InputError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: weights file not found; pass an existing .pt file to --weights")
    json_path = path.with_suffix(".json")
    record = _read_record(json_path)
    net = Spk2VidNet(_config(record["config"], json_path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as err:
        raise InputError(f"{path}: not a readable weights file ({reason(err)}); "
                         "re-download or re-export it") from None
    if not isinstance(state, dict):
        raise InputError(f"{path}: holds a {type(state).__name__}, not a state dict; "
                         "save weights with spk2vid_model.weights.save_weights")
    mismatch = _mismatch(net, state)
    if mismatch:
        raise InputError(f"{path}: does not match the {net.config.name} architecture in "
                         f"{json_path.name} ({mismatch}); "
                         "use the .json written together with these weights")
    net.load_state_dict(state)
    return net.eval(), record["meta"]


def load_config(path: Path) -> ModelConfig:
    """The architecture of the weights `path`, from the .json beside them (the weights are not read)."""
    json_path = Path(path).with_suffix(".json")
    return _config(_read_record(json_path)["config"], json_path)


def bundled_weights() -> dict[int, dict[str, Path]]:
    """Weights shipped in `model/weights/`: {scale: {"full" | "lite": path}}."""
    found: dict[int, dict[str, Path]] = {}
    for path in sorted(WEIGHTS_DIR.glob("x*-*.pt")):
        match = BUNDLED_NAME.fullmatch(path.name)
        if match and path.with_suffix(".json").is_file():
            found.setdefault(int(match[1]), {})[match[2]] = path
    return found


def _read_record(json_path: Path) -> dict:
    try:
        record = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise InputError(f"{json_path}: missing; the weights need the .json config saved "
                         "beside them") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{json_path}: not readable JSON ({reason(err)}); "
                         "restore the .json saved with the weights") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise InputError(f"{json_path}: has no \"config\" object; "
                         "restore the .json saved with the weights")
    record.setdefault("meta", {})
    return record


def _config(config: dict, json_path: Path) -> ModelConfig:
    try:
        return ModelConfig.from_dict(config)
    except (TypeError, ValueError) as err:
        raise InputError(f"{json_path}: not a valid Spk2VidNet config ({reason(err)}); "
                         "restore the .json saved with the weights") from None


def _mismatch(net: nn.Module, state: dict) -> str:
    """'' when `state` fits `net` exactly, else a short summary of what differs."""
    expected = net.state_dict()
    problems = []
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(name for name in set(expected) & set(state)
                   if not isinstance(state[name], torch.Tensor)
                   or state[name].shape != expected[name].shape)
    for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if names:
            more = f" and {len(names) - 2} more" if len(names) > 2 else ""
            problems.append(f"{label}: {', '.join(names[:2])}{more}")
    return "; ".join(problems)

