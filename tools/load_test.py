#!/usr/bin/env python3
"""Load test for `kiln serve` (or any Ollama / OpenAI-compatible server):
N concurrent clients stream chat requests for D seconds, each request a short
random prompt with a small num_predict; about 10% of the requests hang up at a
random point mid-stream on purpose. Reports generated tokens per second,
p50/p99 time to first token and inter-token latency, and error counts
(anything but the deliberate disconnects is an error). Against kiln it then
reads /metrics until every model reports 0 running sequences and 0 used KV
blocks (cached prefix blocks are free blocks, so they do not count), and
fails if that does not happen within --settle seconds.

    # against a running server
    .venv/bin/python tools/load_test.py --url http://127.0.0.1:11434 --model gemma3:270m
    # start one: a temporary store, the GGUF uploaded and created as a model
    .venv/bin/python tools/load_test.py --kiln build/kiln --gguf ~/.cache/kiln/models/gemma-3-270m-q4_k_m.gguf \
        --clients 8 --duration 15
    # llama.cpp's server (no /metrics): its OpenAI route
    .venv/bin/python tools/load_test.py --url http://127.0.0.1:8080 --api openai --model any --no-metrics

Exit status: 0 when there were no errors and the blocks came back, 1 otherwise.
Only the standard library is used.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

TOPICS = ["the sea", "a red bicycle", "winter mornings", "prime numbers", "a lost key", "coffee", "the moon",
          "old maps", "rain on a roof", "a quiet library", "volcanoes", "paper boats", "a chess game", "bees",
          "the color blue", "a train station", "mountains", "a kitchen timer", "clouds", "a violin"]
FORMS = ["Write one sentence about {}.", "Describe {} in a few words.", "Give a short fact about {}.",
         "Tell a tiny story about {}.", "What do you think of {}?"]


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ttft = []          # seconds, per request that produced a token
        self.itl = []           # seconds between consecutive streamed tokens
        self.tokens = 0         # generated tokens (exact counts where the server gave one)
        self.completed = 0
        self.disconnected = 0   # deliberate hang-ups
        self.errors = {}        # kind -> count
        self.error_examples = []

    def error(self, kind, detail):
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if len(self.error_examples) < 10:
                self.error_examples.append(f"{kind}: {detail}"[:300])


def request_body(api, model, prompt, num_predict, seed):
    if api == "native":
        return "/api/chat", {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True,
                             "options": {"num_predict": num_predict, "seed": seed}}
    return "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": prompt}],
                                    "stream": True, "max_tokens": num_predict, "seed": seed,
                                    "stream_options": {"include_usage": True}}


def parse_event(api, line):
    """(text, done, exact_token_count, error) for one streamed line; None for lines to skip."""
    line = line.strip()
    if not line:
        return None
    if api == "openai":
        if not line.startswith(b"data:"):
            return None
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return ("", True, None, None)
        obj = json.loads(payload)
        if "error" in obj:
            return ("", False, None, str(obj["error"]))
        usage = obj.get("usage")
        if not obj.get("choices"):
            return ("", False, usage.get("completion_tokens") if usage else None, None)
        delta = obj["choices"][0].get("delta") or {}
        return (delta.get("content") or "", False, usage.get("completion_tokens") if usage else None, None)
    obj = json.loads(line)
    if "error" in obj:
        return ("", False, None, str(obj["error"]))
    text = (obj.get("message") or {}).get("content") or ""
    if obj.get("done"):
        return (text, True, obj.get("eval_count"), None)
    return (text, False, None, None)


def one_request(args, host, port, rng, stats):
    prompt = rng.choice(FORMS).format(rng.choice(TOPICS)) + f" ({rng.randrange(10**6)})"
    path, body = request_body(args.api, args.model, prompt, args.num_predict, rng.randrange(2**31))
    hang_up_after = rng.randint(1, max(1, args.num_predict - 1)) if rng.random() < args.disconnect_rate else None
    conn = http.client.HTTPConnection(host, port, timeout=args.timeout)
    start = time.perf_counter()
    last = None
    pieces = 0
    exact = None
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            stats.error(f"http {resp.status}", resp.read()[:200])
            return
        done = False
        ttft = None
        itl = []
        for line in resp:
            ev = parse_event(args.api, line)
            if ev is None:
                continue
            text, is_done, count, err = ev
            if err:
                stats.error("stream error", err)
                return
            if count is not None:
                exact = count
            if text:
                now = time.perf_counter()
                if last is None:
                    ttft = now - start
                else:
                    itl.append(now - last)
                last = now
                pieces += 1
                if hang_up_after is not None and pieces >= hang_up_after:
                    # Close the socket mid-stream: the server must cancel the
                    # sequence and return its blocks.
                    if conn.sock is not None:
                        conn.sock.shutdown(socket.SHUT_RDWR)
                    resp.close()
                    conn.close()
                    with stats.lock:
                        stats.disconnected += 1
                        stats.tokens += pieces
                        if ttft is not None:
                            stats.ttft.append(ttft)
                        stats.itl.extend(itl)
                    return
            if is_done:
                done = True
                break
        if not done:
            stats.error("stream ended early", f"{pieces} pieces, no final chunk")
            return
        with stats.lock:
            stats.completed += 1
            stats.tokens += exact if exact is not None else pieces
            if ttft is not None:
                stats.ttft.append(ttft)
            stats.itl.extend(itl)
    except (OSError, http.client.HTTPException, ValueError) as e:
        stats.error(type(e).__name__, e)
    finally:
        conn.close()


def client_loop(args, host, port, seed, deadline, stats):
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        one_request(args, host, port, rng, stats)


def http_get(host, port, path, timeout=10):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


METRIC_LINE = re.compile(r'^(kiln_running_sequences|kiln_kv_blocks|kiln_queue_depth)(\{[^}]*\})?\s+(\S+)$')


def kv_state(host, port):
    """{(name, labels): value} for the gauges that must settle to zero."""
    status, body = http_get(host, port, "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    out = {}
    for line in body.decode().splitlines():
        m = METRIC_LINE.match(line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def settled(state):
    bad = {}
    for (name, labels), v in state.items():
        if name in ("kiln_running_sequences", "kiln_queue_depth") and v != 0:
            bad[name + labels] = v
        if name == "kiln_kv_blocks" and 'state="used"' in labels and v != 0:
            bad[name + labels] = v
    return bad


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_kiln(args):
    """Starts `kiln serve` over a temporary store with the GGUF created as
    model 'load-test'; returns (process, url, temp dir)."""
    tmp = Path(tempfile.mkdtemp(prefix="kiln-load-"))
    port = free_port()
    env = dict(os.environ, KILN_HOST=f"127.0.0.1:{port}", KILN_MODELS=str(tmp / "models"))
    if args.parallel:
        env["KILN_NUM_PARALLEL"] = str(args.parallel)
    log = open(tmp / "serve.log", "w")
    proc = subprocess.Popen([args.kiln, "serve"], env=env, stderr=log, stdout=log)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    h = hashlib.sha256()
    with open(args.gguf, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = "sha256:" + h.hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    with open(args.gguf, "rb") as f:
        conn.request("POST", f"/api/blobs/{digest}", body=f, headers={"Content-Length": str(os.path.getsize(args.gguf))})
        r = conn.getresponse()
        r.read()
        if r.status not in (200, 201):
            raise RuntimeError(f"blob upload answered {r.status}")
    conn.request("POST", "/api/create", body=json.dumps({"model": "load-test", "files": {"model.gguf": digest},
                                                           "stream": False}))
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"create answered {r.status}: {body[:200]}")
    conn.close()
    args.model = "load-test"
    return proc, f"http://127.0.0.1:{port}", tmp


def pick_model(args, host, port):
    if args.api == "native":
        status, body = http_get(host, port, "/api/tags")
        models = [m["model"] for m in json.loads(body).get("models", [])] if status == 200 else []
    else:
        status, body = http_get(host, port, "/v1/models")
        models = [m["id"] for m in json.loads(body).get("data", [])] if status == 200 else []
    if not models:
        raise SystemExit("no model given (--model) and the server lists none")
    return models[0]


def warm_up(args, host, port):
    """One short request so that loading the model is not timed as TTFT."""
    stats = Stats()
    saved = args.disconnect_rate
    args.disconnect_rate = 0
    one_request(args, host, port, random.Random(0), stats)
    args.disconnect_rate = saved
    if stats.errors:
        raise SystemExit(f"warm-up request failed: {stats.error_examples}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("KILN_URL", "http://127.0.0.1:11434"))
    ap.add_argument("--model", help="model name (default: the first the server lists)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds during which new requests start")
    ap.add_argument("--num-predict", type=int, default=32)
    ap.add_argument("--disconnect-rate", type=float, default=0.1)
    ap.add_argument("--api", choices=["native", "openai"], default="native",
                    help="native: /api/chat NDJSON; openai: /v1/chat/completions SSE")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-request socket timeout (s)")
    ap.add_argument("--settle", type=float, default=15.0, help="seconds /metrics may take to reach zero")
    ap.add_argument("--no-metrics", action="store_true", help="skip the /metrics check (servers other than kiln)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ap.add_argument("--kiln", help="start this kiln binary (with --gguf) instead of using --url")
    ap.add_argument("--gguf", help="GGUF file to serve when --kiln is given")
    ap.add_argument("--parallel", type=int, help="KILN_NUM_PARALLEL for the server --kiln starts")
    args = ap.parse_args()

    proc = tmp = None
    if args.kiln:
        if not args.gguf:
            ap.error("--kiln needs --gguf")
        proc, args.url, tmp = start_kiln(args)
    try:
        u = urllib.parse.urlparse(args.url)
        host, port = u.hostname, u.port or 80
        if not args.model:
            args.model = pick_model(args, host, port)
        warm_up(args, host, port)

        stats = Stats()
        start = time.monotonic()
        deadline = start + args.duration
        threads = [threading.Thread(target=client_loop, args=(args, host, port, args.seed * 1000 + i, deadline, stats),
                                    daemon=True) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - start

        leftover = {}
        if not args.no_metrics:
            settle_end = time.monotonic() + args.settle
            while True:
                leftover = settled(kv_state(host, port))
                if not leftover or time.monotonic() > settle_end:
                    break
                time.sleep(0.2)
        final_state = {} if args.no_metrics else {f"{k[0]}{k[1]}": v for k, v in kv_state(host, port).items()}

        requests = stats.completed + stats.disconnected + sum(stats.errors.values())
        result = {
            "url": args.url, "api": args.api, "model": args.model, "clients": args.clients,
            "duration_s": args.duration, "wall_s": round(wall, 2), "num_predict": args.num_predict,
            "requests": requests, "completed": stats.completed, "deliberate_disconnects": stats.disconnected,
            "errors": stats.errors, "error_examples": stats.error_examples,
            "generated_tokens": stats.tokens, "tokens_per_s": round(stats.tokens / wall, 2),
            "requests_per_s": round(requests / wall, 3),
            "ttft_p50_ms": None if not stats.ttft else round(1000 * percentile(stats.ttft, 50), 1),
            "ttft_p99_ms": None if not stats.ttft else round(1000 * percentile(stats.ttft, 99), 1),
            "itl_p50_ms": None if not stats.itl else round(1000 * percentile(stats.itl, 50), 1),
            "itl_p99_ms": None if not stats.itl else round(1000 * percentile(stats.itl, 99), 1),
            "metrics_checked": not args.no_metrics, "metrics_not_settled": leftover, "metrics_final": final_state,
        }
        ok = not stats.errors and not leftover and stats.completed > 0
        result["ok"] = ok
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{requests} requests in {wall:.1f} s from {args.clients} clients ({args.api} API, "
                  f"model {args.model}, num_predict {args.num_predict})")
            print(f"  completed {stats.completed}, deliberate disconnects {stats.disconnected}, "
                  f"errors {sum(stats.errors.values())} {stats.errors or ''}")
            print(f"  generated {stats.tokens} tokens: {result['tokens_per_s']} tokens/s")
            print(f"  TTFT p50 {result['ttft_p50_ms']} ms, p99 {result['ttft_p99_ms']} ms; "
                  f"inter-token p50 {result['itl_p50_ms']} ms, p99 {result['itl_p99_ms']} ms")
            for ex in stats.error_examples:
                print(f"  error: {ex}")
            if not args.no_metrics:
                print(f"  /metrics after the run: {final_state}")
                if leftover:
                    print(f"  NOT SETTLED after {args.settle} s: {leftover}")
            print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
