#!/bin/bash
# Session 24, call 14 (1 GPU). After the review: the task clock's typed layout and the shared
# slot decoder. ws_forward (its task-clock test) and a timeline run.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c14.tar.xz -C /tmp/p
/tmp/p/M/test-test-ws_forward --include-ignored --test-threads=1 --nocapture 2>&1 | grep -E "^kind|kind 0|test result|panicked"
/tmp/p/M/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 4 --iters 5 --timeline | grep -E "verify:|consumer 0 per"
echo "=== elapsed ${SECONDS}s"
