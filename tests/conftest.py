"""Fixtures shared by several test modules."""

import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def one_thread():
    """One torch thread for tiny tensors: hand-offs cost more than they save, above all on a busy CI machine.

    Network tests use it with `pytestmark = pytest.mark.usefixtures("one_thread")`.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def readonly_dir(tmp_path: Path):
    """A directory nobody can create files in, root included (chattr +i as root, chmod otherwise)."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root without chattr +i: cannot make a directory unwritable")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    yield folder
    subprocess.run(undo, check=True)
