"""The README's Python API example runs as written and does what it says."""

import re
from pathlib import Path

import tifffile

REPO = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    (tmp_path / "samples").symlink_to(REPO / "samples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    with tifffile.TiffFile(tmp_path / "coffee_x2.tif") as tif:
        stack = tif.asarray()
    assert stack.shape == (namespace["frames"], 250, 400) and stack.dtype.name == "uint16"
    assert stack.max() > 0
