# Sourced by the GPU scripts, from the repository root: import spk2vid from this checkout, installed
# or not. pyproject.toml installs the folder model/ as `spk2vid_model`; a link of that name in a
# folder put first on PYTHONPATH does the same without an install (no setuptools needed there).
link_dir=$(mktemp -d)
ln -s "$PWD/model" "$link_dir/spk2vid_model"
export PYTHONPATH="$link_dir:$PWD${PYTHONPATH:+:$PYTHONPATH}"
