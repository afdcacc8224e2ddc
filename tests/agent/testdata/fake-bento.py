#!/usr/bin/env python3
"""A stand-in for a Bento-compatible binary, for the agent's --pipeline-engine test only.

Reads `-c CONFIG` (JSON, which is YAML), reads every line of the files its `input.file.paths`
globs name, writes each JSON line to stdout with "engine": "fake" added and counts every other
line as a processor error, serves Bento's counters on `http.address` at /metrics, and runs until
SIGTERM (pipeline) -- like `bento -c config.yaml` would, with a tiny subset of its behaviour.
"""
import glob
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

config = json.load(open(sys.argv[sys.argv.index("-c") + 1]))
counts = {"output_sent": 0, "processor_error": 0}


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self):
        body = "".join(
            '# TYPE %s counter\n%s{label="",path="root"} %d\n' % (k, k, v) for k, v in counts.items()
        ).encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


host, port = config["http"]["address"].rsplit(":", 1)
server = HTTPServer((host, int(port)), Metrics)
threading.Thread(target=server.serve_forever, daemon=True).start()
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())

for pattern in config["input"]["file"]["paths"]:
    for path in sorted(glob.glob(pattern)):
        for line in open(path):
            try:
                message = json.loads(line)
                message["engine"] = "fake"
                print(json.dumps(message, sort_keys=True), flush=True)
                counts["output_sent"] += 1
            except ValueError:
                counts["processor_error"] += 1
stop.wait()
