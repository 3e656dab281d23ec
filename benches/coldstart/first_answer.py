#!/usr/bin/env python3
"""Spawn → first invocation answered, for one Lambda binary run as Lambda runs it, against a
mock of the Lambda Runtime API on loopback (AWS_LAMBDA_RUNTIME_API), with the template's
environment (dummy secrets, no network: the event needs none). Median and p90 of `runs`
spawns, and the peak RSS (VmHWM). The mock and the measuring are `all_functions.py`'s.

    python3 benches/coldstart/first_answer.py target/release/orders benches/coldstart/unauthenticated.json 25
"""
import json, sys, threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import all_functions as af  # noqa: E402

binary, event_file, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
server = af.Server(("127.0.0.1", 0), af.Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
event = Path(event_file).read_bytes()
runs = [af.sample(Path(binary), event, True, server.server_address[1]) for _ in range(runs)]
result = {"init_ms": af.stats([r[0] for r in runs]), "answer_ms": af.stats([r[1] for r in runs]),
          "peak_rss_mb": max(r[2] for r in runs if r[2]), "answer": runs[-1][3][:100].decode(errors="replace")}
print(json.dumps(result))
