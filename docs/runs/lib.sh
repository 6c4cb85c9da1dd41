# Helpers for device-call scripts (sourced: `. .gpuws/lib.sh` after copying this file into
# .gpuws). Binaries are unpacked under /tmp/p/<variant>/ by docs/runs/v32/pack.sh's names:
# the CLI as bin-bin-flashmoe, tests as test-test-<name>.

# The last run's median forward time (ms) and output hash.
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }

# r VARIANT "ARGS": one timed `flashmoe run` on one GPU (30 forwards, 2 verified tokens), printed
# as " VARIANT=ms+#hash" (+: the f64 check passed), with the first error line if any.
r() {
  timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1
  echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"
  grep -iE "error|panic|illegal|timed out" /tmp/r.log | grep -v "rel L2 error" | head -2 | cut -c1-200
}

# t VARIANT "ENV=..." TEST [LIMIT_S]: a GPU test binary with its ignored tests, one thread.
t() {
  local s=$SECONDS
  mkdir -p /tmp/o
  env $2 timeout -k 2 ${4:-100} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t.log 2>&1
  echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t.log | tail -1)"
  grep -E "panick|FAILED" -A3 /tmp/o/t.log | cut -c1-300 | head -10
}

# timeline VARIANT "ARGS": the task clock of one run (`run --timeline`).
timeline() {
  timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
  echo "--- $1 [$2] timeline $(med)"
  grep -E "per GEMM|exit|idle|task queue" /tmp/r.log | tr -s ' '
}
