#!/usr/bin/env python3
"""Spawn → first invocation answered, for a Lambda binary run as Lambda runs it, against a
mock of the Lambda Runtime API on loopback (AWS_LAMBDA_RUNTIME_API), with the template's
environment (dummy secrets, no network: the event needs none). Median and p90 of `runs`
spawns, and the peak RSS (VmHWM) of each.

    python3 benches/coldstart/first_answer.py target/release/orders benches/coldstart/unauthenticated.json 25

A run whose runtime client loses a connection to this mock before it answered (a harness
artifact of Python's one-request-per-connection server) is run again and counted in
`harness_retries`."""
import http.server, json, os, socketserver, statistics, subprocess, sys, threading, time

binary, event_file, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
event = open(event_file, 'rb').read()

class State:
    answered = None
    served = False

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.endswith('/invocation/next'):
            if State.served:
                time.sleep(30); return
            State.served = True
            self.send_response(200)
            self.send_header('Lambda-Runtime-Aws-Request-Id', 'req-1')
            self.send_header('Lambda-Runtime-Deadline-Ms', str(int(time.time()*1000) + 30000))
            self.send_header('Lambda-Runtime-Invoked-Function-Arn', 'arn:aws:lambda:us-east-1:123456789012:function:bench')
            self.send_header('Lambda-Runtime-Trace-Id', 'Root=1-0-0')
            self.send_header('Content-Length', str(len(event))); self.send_header('Connection', 'close')
            self.end_headers(); self.wfile.write(event)
    def do_POST(self):
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            body = b''
            while True:
                size = int(self.rfile.readline().strip() or b'0', 16)
                if size == 0:
                    self.rfile.readline(); break
                body += self.rfile.read(size); self.rfile.readline()
        else:
            n = int(self.headers.get('Content-Length', 0)); body = self.rfile.read(n)
        if '/response' in self.path or '/error' in self.path:
            State.answered = (time.perf_counter(), body)
        self.send_response(202); self.send_header('Content-Length', '0'); self.send_header('Connection', 'close'); self.end_headers()

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

server = Server(('127.0.0.1', 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
env = dict(os.environ)
env.update({
    'AWS_LAMBDA_RUNTIME_API': f'127.0.0.1:{port}', 'AWS_LAMBDA_FUNCTION_NAME': 'bench',
    'AWS_LAMBDA_FUNCTION_MEMORY_SIZE': '256', 'AWS_LAMBDA_FUNCTION_VERSION': '$LATEST',
    'AWS_REGION': 'us-east-1', 'AWS_ACCESS_KEY_ID': 'x', 'AWS_SECRET_ACCESS_KEY': 'x',
    'TABLE_NAME': 'bench', 'JWT_SECRET': 'x' * 40, 'QUOTE_SECRET': 'y' * 40,
    'DATA_KEY': 'dGVzdC1kYXRhLWtleS10ZXN0LWRhdGEta2V5LTAxMjM=', 'PAYMENT_SIMULATOR_SECRET': 'z' * 40,
    'AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH': 'true', 'RUST_LOG': 'warn',
})
times, rss = [], []
retries = 0
while len(times) < runs:
    State.answered, State.served = None, False
    start = time.perf_counter()
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while State.answered is None:
        if p.poll() is not None: break
        time.sleep(0.0002)
    if State.answered is None:
        retries += 1
        if retries > runs: sys.exit('too many failed runs')
        continue
    times.append((State.answered[0] - start) * 1000)
    try:
        for line in open(f'/proc/{p.pid}/status'):
            if line.startswith('VmHWM'): rss.append(int(line.split()[1]) / 1024)
    except FileNotFoundError: pass
    p.kill(); p.wait()
times.sort()
print(json.dumps({'runs': runs, 'harness_retries': retries, 'median_ms': round(statistics.median(times), 2), 'p90_ms': round(times[int(0.9*len(times))-1], 2),
  'peak_rss_mb': round(statistics.median(rss), 1) if rss else None, 'answer': State.answered[1][:120].decode(errors='replace')}))
