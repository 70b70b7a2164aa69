#!/usr/bin/env bash
# findings.sh BIN OUT: the same inputs through one build's agent and collector, findings sorted,
# so two builds can be compared with cmp. Inputs under $FINDINGS_WORK (default /work/measure):
# corpus/text and corpus/docs (bench/dlp-corpus.py text DIR 40, docs DIR 400), yara-rules (a
# copy of rules/yara), yara-in (the EICAR file and the documents). Corpora from
# scripts/testdata.sh (run it from the repository root).
set -uo pipefail
BIN=$1; OUT=$2; M=${FINDINGS_WORK:-/work/measure}; mkdir -p "$OUT"
SIGMA=$(scripts/testdata.sh sigma); EVTX=$(scripts/testdata.sh evtx-attack-samples)
"$BIN/haidang-agent" scan --dlp --json $M/corpus/text $M/corpus/docs 2>"$OUT/dlp.err" | sort > "$OUT/dlp.jsonl"
"$BIN/haidang-agent" scan --yara $M/yara-rules --no-rule-cache --json $M/yara-in 2>"$OUT/yara.err" | sort > "$OUT/yara.jsonl"
"$BIN/haidang-collector" hunt --rules "$SIGMA/rules" --format json "$EVTX" 2>"$OUT/hunt.err" \
  | python3 -c 'import sys,json
for l in sys.stdin:
    d=json.loads(l); print(d["rule"]["id"], d["source"]["path"], d["source"]["record"])' | sort > "$OUT/hunt.txt"
rm -rf /tmp/fimtree-$$ && cp -r $M/corpus/docs /tmp/fimtree-$$ && mkdir -p /tmp/fimdb-$$
"$BIN/haidang-agent" fim baseline --path /tmp/fimtree-$$ --db /tmp/fimdb-$$/b.redb > "$OUT/fim-baseline.txt" 2>&1
ls /tmp/fimtree-$$ | head -5 | while read f; do echo x >> "/tmp/fimtree-$$/$f"; done
rm "/tmp/fimtree-$$/$(ls /tmp/fimtree-$$ | tail -1)"; echo new > "/tmp/fimtree-$$/Tài liệu mới.txt"; chmod 600 "/tmp/fimtree-$$/$(ls /tmp/fimtree-$$ | sed -n 7p)"
"$BIN/haidang-agent" fim check --path /tmp/fimtree-$$ --db /tmp/fimdb-$$/b.redb --json 2>"$OUT/fim.err" \
  | python3 -c 'import sys,json
for l in sys.stdin:
    d=json.loads(l); d.pop("time",None); print(json.dumps({k:d[k] for k in sorted(d) if k in ("kind","path","change","changes","action")}, ensure_ascii=False))' | sed "s#/tmp/fimtree-$$##" | sort > "$OUT/fim.jsonl"
rm -rf /tmp/fimtree-$$ /tmp/fimdb-$$
for f in dlp.jsonl yara.jsonl hunt.txt fim.jsonl; do printf '%-11s %6d lines  md5 %s\n' $f $(wc -l < "$OUT/$f") $(md5sum < "$OUT/$f" | cut -c1-12); done
