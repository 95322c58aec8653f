#!/usr/bin/env bash
# Fetch, on this machine, the wheels the GPU machine's image lacks for `spk2vid train`: typer 0.29
# (it ships its own click) and its pydantic stack. They land in .whl/ (gitignored); carry ".whl" in
# the device call, and scripts/gpu_train.sh installs them into /tmp/site before it trains.
#
#   scripts/gpu_wheels.sh [PYTHON_VERSION]     # default 3.12, the GPU image's Python
#
# imageio-ffmpeg is not needed there: only MP4 output and video sources import it.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-3.12}
packages=(typer==0.29.2 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0
          typing-inspection==0.4.5 typing-extensions==4.16.0 annotated-doc==0.0.7)
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
    platforms+=(--platform "$tag")
done
rm -rf .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
    "${platforms[@]}" -d .whl "${packages[@]}"
ls -l .whl
du -sh .whl
