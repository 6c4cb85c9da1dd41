cd .gpuws && tar xJf san.tar.xz && cd SAN
timeout 100 compute-sanitizer --tool memcheck --show-backtrace device ./test-test-ws_tile --include-ignored --test-threads 1 --nocapture the_ping_pong_tile_matches_the_cpu 2>&1 | head -60
