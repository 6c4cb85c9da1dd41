#!/bin/bash
# Session 23, call 6 (1 GPU). P = pair-tile accf7c5 (the pair tile's remote release at CTA scope,
# c3's mode 4). Record for the perf log: the pair tile against one block per tile (speed, ncu L2
# and DRAM bytes, tensor pipe), and compute-sanitizer memcheck / synccheck on its CPU check.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
timeout -k 2 120 /tmp/p/P/test-test-ws_tile --include-ignored --test-threads=1 --nocapture 2>&1 | grep -E "TFLOP|clusters|test result|panick"
timeout -k 2 200 ncu --csv --kernel-name regex:ws256 --launch-skip 92 --launch-count 92 --metrics sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,lts__t_bytes.sum,dram__bytes_read.sum,lts__t_sectors_op_read.sum,gpu__time_duration.sum /tmp/p/P/test-test-ws_tile --include-ignored the_128x256_tile_throughput > /tmp/o/ncu.csv 2>/tmp/o/ncu.err; echo "ncu rc=$?"
python3 - <<'PY'
import csv, collections, statistics
rows=[r for r in csv.reader(l for l in open('/tmp/o/ncu.csv') if l.startswith('"'))]
hdr=rows[0]; I=hdr.index('ID'); M=hdr.index('Metric Name'); V=hdr.index('Metric Value'); U=hdr.index('Metric Unit'); K=hdr.index('Kernel Name')
by=collections.OrderedDict()
for r in rows[1:]:
    by.setdefault(int(r[I]),{})[r[M]]=(float(r[V].replace(',','')), r[U]); by[int(r[I])]['k']=r[K]
ids=sorted(by)
names=['gathered','gathered+pair','TMA','TMA+pair']
for g in range(4):
    grp=[by[i] for i in ids[g*23:(g+1)*23]]
    if not grp: break
    out=[names[g], grp[0]['k'][:28]]
    for m in ['gpu__time_duration.sum','sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active','lts__t_bytes.sum','lts__t_sectors_op_read.sum','dram__bytes_read.sum']:
        vals=[x[m][0] for x in grp if m in x]
        out.append('%s=%.4g %s'%(m.split('__')[1][:24], statistics.median(vals), grp[0].get(m,(0,''))[1]) if vals else m+'=?')
    print(' | '.join(out))
PY
for tool in memcheck synccheck; do
  timeout -k 2 150 compute-sanitizer --tool $tool --error-exitcode 9 /tmp/p/P/test-test-ws_tile --include-ignored --test-threads=1 the_128x256_tile_matches_the_cpu > /tmp/o/san-$tool.log 2>&1; echo "=== $tool rc=$? $(grep -E 'ERROR SUMMARY|test result' /tmp/o/san-$tool.log | tr '\n' ' ')"
done
echo "=== elapsed ${SECONDS}s"
