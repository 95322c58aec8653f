"""Weights on disk: round trip, fp16 storage, bundled names, and one-line errors for bad files."""

import json

import pytest
import torch

from spk2vid_cli.errors import InputError
from spk2vid_model import weights
from spk2vid_model.model import Spk2VidNet
from spk2vid_model.weights import bundled_weights, load_config, load_weights, save_weights
from torch_helpers import TINY, trained_looking

pytestmark = pytest.mark.usefixtures("one_thread")


def outputs(net: Spk2VidNet) -> torch.Tensor:
    blocks = (torch.rand(1, 2, TINY.window, 6, 7, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    with torch.no_grad():
        return net(blocks)[0]


@pytest.mark.parametrize("half", [False, True])
def test_round_trip(tmp_path, half):
    net = trained_looking(TINY)
    path = tmp_path / "nested" / "tiny.pt"
    meta = {"steps": 12, "metrics": {"psnr": 30.5}}
    save_weights(net, path, meta, half=half)
    loaded, loaded_meta = load_weights(path)
    assert loaded_meta == meta
    assert loaded.config == TINY and not loaded.training
    assert json.loads(path.with_suffix(".json").read_text())["config"]["name"] == "tiny"
    if half:
        assert all(t.dtype == torch.float16 for t in torch.load(path, weights_only=True).values())
        torch.testing.assert_close(outputs(loaded), outputs(net), rtol=0, atol=1e-2)
    else:
        assert torch.equal(outputs(loaded), outputs(net))
    assert not list(tmp_path.rglob("*.partial"))
    path.write_bytes(b"")  # the config alone comes from the .json
    assert load_config(path) == TINY


def test_bundled_weights_are_found_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    for name in ("x4-lite", "x2-full", "x8-huge"):
        save_weights(trained_looking(TINY), tmp_path / f"{name}.pt", {})
    save_weights(trained_looking(TINY), tmp_path / "x8-full.pt", {})
    (tmp_path / "x8-full.json").unlink()  # weights without their config do not count
    assert bundled_weights() == {4: {"lite": tmp_path / "x4-lite.pt"}, 2: {"full": tmp_path / "x2-full.pt"}}



def test_work_in_progress_weights_are_never_bundled(tmp_path, monkeypatch):
    """GPU runs commit x4-full-wip.pt to warm-start the next one; --model auto must not pick it."""
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    for name in ("x4-lite", "x4-full-wip", "x4-full.old", "x4-full-wip-2"):
        save_weights(trained_looking(TINY), tmp_path / f"{name}.pt", {})
    assert bundled_weights() == {4: {"lite": tmp_path / "x4-lite.pt"}}

def saved(tmp_path):
    path = tmp_path / "w.pt"
    save_weights(trained_looking(TINY), path, {})
    return path


def truncate(path):
    path.write_bytes(path.read_bytes()[:200])


def garbage(path):
    path.write_bytes(b"not a zip, not a pickle")


def holds_code(path):
    torch.save({"x": torch.zeros(1), "f": print}, path)  # weights_only refuses callables


def holds_a_list(path):
    torch.save([torch.zeros(1)], path)


def wider_config(path):
    record = json.loads(path.with_suffix(".json").read_text())
    record["config"]["channels"] = 16
    path.with_suffix(".json").write_text(json.dumps(record))


def dropped_tensor(path):
    state = torch.load(path, weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, path)


def bad_json(path):
    path.with_suffix(".json").write_text("{config: ")


def unknown_key(path):
    record = json.loads(path.with_suffix(".json").read_text())
    record["config"]["colour"] = True
    path.with_suffix(".json").write_text(json.dumps(record))


def no_config(path):
    path.with_suffix(".json").write_text('{"meta": {}}')


def invalid_config(path):
    record = json.loads(path.with_suffix(".json").read_text())
    record["config"]["upsampler"] = "magic"
    path.with_suffix(".json").write_text(json.dumps(record))


def missing_json(path):
    path.with_suffix(".json").unlink()


def missing_weights(path):
    path.unlink()


@pytest.mark.parametrize("damage, culprit", [
    (truncate, ".pt"), (garbage, ".pt"), (holds_code, ".pt"), (holds_a_list, ".pt"),
    (wider_config, ".pt"), (dropped_tensor, ".pt"), (missing_weights, ".pt"),
    (bad_json, ".json"), (unknown_key, ".json"), (no_config, ".json"), (invalid_config, ".json"),
    (missing_json, ".json"),
])
def test_bad_files_give_one_line_naming_the_file(tmp_path, damage, culprit):
    path = saved(tmp_path)
    damage(path)
    with pytest.raises(InputError) as err:
        load_weights(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(path.with_suffix(culprit)))
