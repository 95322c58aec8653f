"""The installed distribution: distinct import names, every package shipped, one version, no shadowing."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

import spk2vid_cli

REPO = Path(__file__).resolve().parents[1]
IMPORT_NAMES = {"spk2vid_cli", "spk2vid_model"}  # model/ installs as spk2vid_model


def test_the_distribution_installs_only_spk2vid_import_names():
    top_level = importlib.metadata.distribution("spk2vid").read_text("top_level.txt")
    assert top_level is not None and set(top_level.split()) == IMPORT_NAMES


def test_pyproject_ships_every_package_folder():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {"spk2vid_model": REPO / "model", "spk2vid_cli": REPO / "spk2vid_cli"}
    assert {folder: str(path.relative_to(REPO)) for folder, path in folders.items() if folder != "spk2vid_cli"} == (
        setuptools["package-dir"])
    found = {".".join([name, *init.parent.relative_to(root).parts])
             for name, root in folders.items() for init in root.rglob("__init__.py")}
    assert set(setuptools["packages"]) == found


def test_the_version_is_written_once():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert importlib.metadata.version("spk2vid") == spk2vid_cli.__version__


def run_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_cli_and_api_run_from_a_folder_holding_model_py(tmp_path):
    """A research folder's own model.py (or data.py) must not shadow the network."""
    (tmp_path / "model.py").write_text("raise ImportError('the working directory model.py was imported')\n")
    (tmp_path / "data.py").write_text("raise ImportError('the working directory data.py was imported')\n")
    help_text = run_in(tmp_path, "-m", "spk2vid_cli", "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "convert" in help_text.stdout and "train" in help_text.stdout
    script = ("from spk2vid_cli.net import NetReconstructor; from spk2vid_cli.training.train import TrainOptions; "
              "net = NetReconstructor(4, model='lite', device='cpu'); print(net.description)")
    api = run_in(tmp_path, "-c", script)
    assert api.returncode == 0, api.stderr
    assert "x4-lite" in api.stdout
