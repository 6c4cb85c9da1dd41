#!/bin/bash
# Session 23, call 1 (1 GPU). P = main + cluster-pair B multicast in the standalone 128x256 tile
# (ws256_pair_tile_gemm_bf16: two blocks of a cluster take row tiles 2i, 2i+1 of one column
# tile; each loads half of every B stage into both by TMA multicast; consumers release a stage to
# both producers). Question: is a task bound by L2 -> SM delivery, so that halving B's L2 bytes
# speeds the tile up? Predicted if so: standalone 32x1024 (A by TMA) 770 -> 840+ TFLOP/s,
# gathered 640 -> 700+; if the tile is at its tensor/issue limit instead: within 2%.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t P X=1 test-test-ws_tile
grep -E "case:|TFLOP|clusters" /tmp/o/t-P-test-test-ws_tile.log | grep -v "^case" | head -20
t P X=1 test-test-cluster_probe
t P X=1 test-test-ws_forward
# a second throughput pass for the spread
timeout -k 2 60 /tmp/p/P/test-test-ws_tile --include-ignored --nocapture the_128x256_tile_throughput 2>&1 | grep -E "TFLOP"
# ncu on the 32-expert problem (launches 92..183: 4 variants x 23 in test order: gathered,
# gathered+pair, TMA, TMA+pair): tensor pipe, L2 bytes/s, L2 read sectors from TEX/TMA, time.
timeout -k 2 200 ncu --csv --kernel-name regex:ws256 --launch-skip 92 --launch-count 92 --metrics sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,lts__t_bytes.sum.per_second,lts__t_sectors_op_read.sum,gpu__time_duration.sum,sm__cycles_active.avg /tmp/p/P/test-test-ws_tile --include-ignored the_128x256_tile_throughput > /tmp/o/ncu.csv 2>/tmp/o/ncu.err; echo "ncu rc=$?"
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
    for m in ['gpu__time_duration.sum','sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active','lts__t_bytes.sum.per_second','lts__t_sectors_op_read.sum','sm__cycles_active.avg']:
        vals=[x[m][0] for x in grp if m in x]
        out.append('%s=%.4g %s'%(m.split('__')[1][:22], statistics.median(vals), grp[0].get(m,(0,''))[1]) if vals else m+'=?')
    print(' | '.join(out))
PY
echo "=== elapsed ${SECONDS}s"
