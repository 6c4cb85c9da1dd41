set -x
cd .gpuws && tar xJf pp1.tar.xz && cd PP
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv
timeout 120 ./test-test-ws_tile --include-ignored --test-threads 1 --nocapture the_ping_pong_tile_matches_the_cpu 2>&1 | grep -E "case|test result|panicked|want" | tail -30
timeout 120 ./test-test-ws_tile --include-ignored --test-threads 1 --nocapture the_tiles_throughput 2>&1 | tail -12
timeout 120 ./test-test-ws_tile --include-ignored --test-threads 1 --nocapture the_tiles_throughput 2>&1 | grep TFLOP
