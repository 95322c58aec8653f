# Sourced by the GPU scripts (gpu_run.sh, gpu_train.sh) from the repository root: installs the carried
# wheels of .whl/ (scripts/gpu_wheels.sh: typer 0.29 and its needs, which the GPU image lacks) into
# /tmp/site, puts it and the checkout (scripts/checkout_path.sh) on PYTHONPATH, and stops with a one-line message when spk2vid
# cannot be imported. Uses $python (default python3).
python=${python:-${PYTHON:-python3}}
if [ -d .whl ]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
source scripts/checkout_path.sh
"$python" -c 'import spk2vid_cli.commands.app' || { echo "spk2vid does not import here; carry .whl (scripts/gpu_wheels.sh)" >&2; exit 2; }
