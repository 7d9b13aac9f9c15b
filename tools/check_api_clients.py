#!/usr/bin/env python3
"""Drives a live `kiln serve` with the official `ollama` and `openai` Python
clients: blob upload, create (streamed and not), list, show, copy, delete, ps,
/v1/models, and the errors clients must see. Run by scripts/test.sh (CI) before the C++ suites.

    .venv/bin/pip install ollama openai
    .venv/bin/python tools/check_api_clients.py --kiln build/kiln [--model FILE.gguf]

Without --model it uses $KILN_TEST_MODELS/gemma-3-270m-q4_k_m.gguf when present,
else writes a tiny llama-shaped GGUF with the gguf package. Exits non-zero on
the first failed check.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ollama
import openai


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_gguf(path):
    import numpy as np
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_context_length(256)
    w.add_embedding_length(32)
    w.add_block_count(1)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"tok{i}" for i in range(16)])
    w.add_tensor("token_embd.weight", np.zeros((16, 32), dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check(cond, what):
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    if not cond:
        raise SystemExit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--model")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kiln-clients-"))
    model = args.model
    if not model:
        real = Path(os.environ.get("KILN_TEST_MODELS", Path.home() / ".cache/kiln/models")) / "gemma-3-270m-q4_k_m.gguf"
        model = str(real) if real.exists() else None
    if not model:
        model = str(tmp / "tiny.gguf")
        tiny_gguf(model)
    print(f"model: {model}")

    port = free_port()
    env = dict(os.environ, KILN_HOST=f"127.0.0.1:{port}", KILN_MODELS=str(tmp / "models"))
    log = open(tmp / "serve.log", "w")
    server = subprocess.Popen([args.kiln, "serve"], env=env, stderr=log)
    host = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        client = ollama.Client(host=host)

        t = time.time()
        digest = client.create_blob(model)
        check(digest.startswith("sha256:"), f"create_blob uploaded {os.path.getsize(model)} bytes in {time.time() - t:.2f}s")

        statuses = [p.status for p in client.create(model="kiln-test", files={"model.gguf": digest},
                                                    system="Be brief.", parameters={"temperature": 0.5, "stop": ["<end>"]},
                                                    stream=True)]
        check(statuses[-1] == "success", f"create (streamed): {statuses}")
        r = client.create(model="kiln-test-2", from_="kiln-test", system="Be verbose.", stream=False)
        check(r.status == "success", "create from a stored model (not streamed)")

        models = client.list().models
        names = sorted(m.model for m in models)
        check(names == ["kiln-test-2:latest", "kiln-test:latest"], f"list: {names}")
        m = models[0]
        check(m.modified_at is not None and m.size > 0 and m.digest and m.details.format == "gguf",
              f"list fields: size={m.size} digest={m.digest[:12]} details={m.details}")

        s = client.show("kiln-test")
        # The client's ShowResponse has no `system` field; the Modelfile carries it.
        check("SYSTEM Be brief." in (s.modelfile or "") and "temperature" in (s.parameters or ""),
              "show: modelfile (system) and parameters")
        print(f"info show: template of {len(s.template or '')} chars")
        check(bool(s.modelinfo) and "general.architecture" in s.modelinfo, f"show: model_info ({len(s.modelinfo)} keys, "
              f"arch {s.modelinfo.get('general.architecture')})")
        check(s.capabilities and "completion" in s.capabilities, f"show: capabilities {s.capabilities}")
        check(s.details.family != "", f"show: details {s.details}")

        check(client.copy("kiln-test", "kiln-copy").status == "success", "copy")
        check("kiln-copy:latest" in [x.model for x in client.list().models], "copy listed")
        check(client.delete("kiln-copy").status == "success", "delete")
        check("kiln-copy:latest" not in [x.model for x in client.list().models], "delete took effect")
        check(client.ps().models == [], "ps: nothing loaded")

        try:
            client.show("missing-model")
            check(False, "show of a missing model raises")
        except ollama.ResponseError as e:
            check(e.status_code == 404 and "not found" in e.error, f"show missing: {e.status_code} {e.error}")
        try:
            client.delete("../../etc/passwd")
            check(False, "delete of a hostile name raises")
        except ollama.ResponseError as e:
            check(e.status_code == 400, f"delete hostile name: {e.status_code} {e.error}")

        oa = openai.OpenAI(base_url=host + "/v1", api_key="kiln")
        ids = sorted(x.id for x in oa.models.list())
        check(ids == ["kiln-test-2:latest", "kiln-test:latest"], f"openai models.list: {ids}")
        got = oa.models.retrieve("kiln-test")
        check(got.id == "kiln-test" and got.owned_by == "library", f"openai models.retrieve: {got}")
        try:
            oa.models.retrieve("missing-model")
            check(False, "openai retrieve of a missing model raises")
        except openai.NotFoundError as e:
            check(e.status_code == 404, f"openai retrieve missing: {e.status_code}")
        print("all checks passed")
    finally:
        server.terminate()
        code = server.wait(timeout=10)
        print(f"kiln serve exited with {code} after SIGTERM")
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
