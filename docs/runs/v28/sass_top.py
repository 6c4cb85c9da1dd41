#!/usr/bin/env python3
"""Summarises ncu source-counter CSVs (--page source --csv --print-source sass, gzipped): stall
samples by opcode and the hottest instructions. Usage: sass_top.py FILE.csv.gz ..."""
import csv, gzip, sys, re
def load(fn):
    rows=[]
    with gzip.open(fn,'rt') as f:
        r=csv.reader(f)
        next(r); hdr=next(r)
        ia=hdr.index("Address"); isrc=hdr.index("Source"); iss=hdr.index("Warp Stall Sampling (All Samples)")
        for row in r:
            try: rows.append((row[ia], row[isrc].strip(), int(row[iss])))
            except: pass
    return rows
for fn in sys.argv[1:]:
    rows=load(fn); tot=sum(x[2] for x in rows)
    print(fn, "total samples", tot, "instructions", len(rows))
    # classify by opcode
    by={}
    for a,s,n in rows:
        op=s.split()[0] if not s.startswith('@') else s.split()[1]
        op=op.split('.')[0]
        by[op]=by.get(op,0)+n
    for op,n in sorted(by.items(), key=lambda x:-x[1])[:14]:
        print(f"  {op:12s} {n:7d} {100*n/tot:5.1f}%")
    top=sorted(rows,key=lambda x:-x[2])[:12]
    for a,s,n in top: print(f"    {100*n/tot:5.1f}% {s[:90]}")
