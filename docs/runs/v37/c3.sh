#!/bin/bash
# v37 c3 (1 GPU): the decode sweep (`flashmoe bench --sweeps decode`: kernel, host and graph
# time, weight bandwidth, the PyTorch layer of the same run) on main with the sweep entry and
# its 1 GiB border (S2 = main's code); CSV and PNG to $OUT; from the repository root, where
# the bench finds benches/baseline_torch.py.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
timeout -k 5 420 /tmp/p/S2/bin-bin-flashmoe bench --sweeps decode > $OUT/bench-decode.log 2>&1; echo "decode rc=$? at ${SECONDS}s"
tail -40 $OUT/bench-decode.log
