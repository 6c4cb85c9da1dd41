cd .gpuws && tar xJf pp1.tar.xz && cd PP
for v in g:46 t:69; do n=${v%%:*}; s=${v##*:}
timeout 200 ncu --kernel-name ws256_tile_gemm_bf16 --launch-skip $s --launch-count 1 --section SourceCounters --section WarpStateStats --section SpeedOfLight --section MemoryWorkloadAnalysis --section SchedulerStats --import-source no -o /tmp/$n ./test-test-ws_tile --include-ignored --test-threads 1 the_tiles_throughput > /dev/null 2>&1
ncu -i /tmp/$n.ncu-rep --page details --print-units base 2>&1 | grep -E "Duration|Throughput|Stall|Warp Cycles|Issued|Eligible|L2 Hit|Mem Busy|Max Bandwidth|No Eligible|Active Warps" | head -40
ncu -i /tmp/$n.ncu-rep --page source --csv --print-source sass > $OUT/${n}_src.csv 2>&1
done
ls -la $OUT
