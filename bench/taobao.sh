#!/usr/bin/env bash
# End-to-end `journeyctl simulate` on the real Taobao slice (110,300 events, 66,454 users).
# usage: bench/taobao.sh TAOBAO_CSV   (from the repository root, after `make test` or `make demo` built .venv;
# the CSV is the 110k-row slice of Alibaba's UserBehavior data set, which journeyctl does not ship)
set -euo pipefail
data=${1:?usage: bench/taobao.sh TAOBAO_CSV (the UserBehavior slice: user_id,item_id,category_id,behavior,ts)}
start=$(date +%s.%N)
.venv/bin/journeyctl simulate bench/taobao --events "$data" \
  --columns user_id,item_id,category_id,behavior,ts --time-unit s \
  --map event=behavior,customer_id=user_id,timestamp=ts \
  --event-values pv=product_viewed,cart=cart_added,fav=wishlisted,buy=purchase \
  --format jsonl > /tmp/taobao-actions.jsonl
end=$(date +%s.%N)
lines=$(wc -l < "$data"); actions=$(wc -l < /tmp/taobao-actions.jsonl)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{int(sys.argv[3]):,} events in {s:.2f} s: {int(sys.argv[3])/s:,.0f} events/s end to end, {int(sys.argv[4]):,} actions')" "$start" "$end" "$lines" "$actions"
