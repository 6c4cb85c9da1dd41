#!/bin/bash
# v32 pack.sh (v29 pack.sh with FEATURES (e.g. "--features nvshmem", NVSHMEM_HOME set). Dev helper for device calls (not CI): builds the CLI and the named test binaries of a checkout
# with ptxas cubins into /tmp/gpuws_p/DIR, stripped. v28's pack.sh with a source checkout and a
# target dir of its own, so branches in git worktrees build side by side:
#   SRC=/work/wt CARGO_TARGET_DIR=/work/tgt-wt pack.sh DIR test1 test2 ...   (default: /work/main)
set -eo pipefail
cd ${SRC:-/work/main}
export FLASHMOE_REQUIRE_PTXAS=1 FLASHMOE_CUBIN=1 FLASHMOE_PTXAS=/work/main/.ci/.tools/nvidia/cuda_nvcc/bin/ptxas
D=/tmp/gpuws_p/$1; shift
rm -rf $D; mkdir -p $D
cargo build --release ${FEATURES:-} -p flashmoe-tools --bin flashmoe 2>&1 | tail -1
cp ${CARGO_TARGET_DIR:-target}/release/flashmoe $D/bin-bin-flashmoe
for t in "$@"; do
  exe=$(cargo test --release ${FEATURES:-} --test $t --no-run --message-format=json 2>/dev/null | python3 -c 'import sys,json
for l in sys.stdin:
    try: m=json.loads(l)
    except: continue
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["profile"]["test"]: print(m["executable"])' | tail -1)
  cp $exe $D/test-test-$t
done
strip $D/* 
ls -la $D | tail -n +2 | awk '{print $5, $9}'
