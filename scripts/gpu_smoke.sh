#!/usr/bin/env bash
# GPU smoke test and training benchmarks, for a machine with a CUDA GPU (e.g. the H100 of the device tool):
#   bash scripts/gpu_smoke.sh [PYTHON]        (default python: the one on PATH)
# 1. the quickstart grid on CUDA with bf16 autocast, channels-last and cudnn benchmark; checks every run's metrics
#    say cuda and bf16, and prints the wall split;  2. the paper's AlexNet at 227x227, batch 512, bf16:
#    benchbridge's step against a hand-written loop, and AnB n=7 against BnB+ n=7;  3. a timm resnet50 step.
set -euo pipefail
PY=${1:-python}
OUT=${OUT:-$(mktemp -d)}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.cuda.get_device_name(0))"
"$PY" benchmarks/quickstart_split.py manifests/quickstart.yaml execution.device=cuda execution.threads=null \
  training.precision=bf16 training.channels_last=true training.cudnn_benchmark=true | tee "$OUT/quickstart_cuda.txt"
"$PY" -m benchbridge run manifests/quickstart.yaml "output_dir=$OUT/quickstart" execution.device=cuda \
  training.precision=bf16 layers=[1] --json > "$OUT/quickstart.json"
"$PY" - "$OUT/quickstart.json" <<'PYEOF'
import json, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    m = r["metrics"]
    assert m["device"].startswith("cuda") and m["precision"] == "bf16" and 0 <= m["top1"] <= 1, m
    assert m["peak_memory_bytes"] > 0 and m["device_hours"] > 0, m
print(f"gpu smoke: {len(rows)} runs on {rows[0]['metrics']['device_name']}, bf16, ok")
PYEOF
B="--device cuda --precision bf16 --threads 8"
"$PY" benchmarks/train_bench.py step --size full --batch 512 $B --channels-last --steps 20 | tee "$OUT/step.txt"
"$PY" benchmarks/train_bench.py frozen --size full --batch 512 $B --channels-last --steps 20 | tee "$OUT/frozen.txt"
"$PY" benchmarks/train_bench.py step --size timm224 --timm resnet50 --batch 256 $B --channels-last --steps 20 \
  | tee "$OUT/resnet50.txt"
echo "results in $OUT"
