#!/bin/bash
# v37 c6 (1 GPU). F = main (c5). The sweep's borders after c1-c4: T = 4 where T·k < E (kept
# from the sweep by v35, measured then with the gate in every block), and the lean items' border
# (small layers, where the items take the forward by default): default / sweep forced / static
# plan, kernel ms, twice each.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
runs() { grep -oP "run \K\S+(?= \()" /tmp/r.log | head -1; }
for cfg in "--tokens 4 --hidden 2048 --inter 2048 --experts 64" "--tokens 4 --hidden 2048 --inter 2048 --experts 16" "--tokens 4 --hidden 2048 --inter 2048 --experts 32 --gated --activation silu" "--tokens 4 --hidden 4096 --inter 14336 --experts 16 --gated --activation silu" \
  "--tokens 1 --hidden 1024 --inter 1024 --experts 8" "--tokens 2 --hidden 1024 --inter 1024 --experts 8" "--tokens 1 --hidden 1024 --inter 1024 --experts 64" "--tokens 1 --hidden 768 --inter 768 --experts 8" "--tokens 4 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 512 --inter 512 --experts 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in "default " "sweep --lean-sweep" "static --no-lean-sweep --no-lean"; do set -- $v
    timeout -k 2 90 /tmp/p/F/bin-bin-flashmoe run --gpus 1 $cfg ${2:-} --verify-tokens 2 --iters 50 > /tmp/r.log 2>&1; line="$line $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; [ $1 = default ] && line="$line($(runs))"; done; done
  echo "$line"; grep -E "rror" /tmp/r.log | head -2; done
echo "=== elapsed ${SECONDS}s"
