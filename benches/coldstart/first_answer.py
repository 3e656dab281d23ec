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
result = af.measure(Path(binary), Path(event_file).read_bytes(), runs, True, server.server_address[1])
print(json.dumps(result))
