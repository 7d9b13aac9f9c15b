#!/usr/bin/env python3
"""Drives a live `kiln serve` with the official `ollama` and `openai` Python
clients: blob upload, create (streamed and not), list, show, copy, delete, ps,
/v1/models, and the errors clients must see; then, on a real model, generation
through both clients: ollama generate / chat (streamed and not), embed,
structured output (a JSON schema), tools (with qwen-0.5b when present), ps;
openai chat.completions (streamed with include_usage, and not),
response_format json_schema, completions, embeddings, and the 404s for an
unknown model. Run by scripts/test.sh (CI) before the C++ suites.

    .venv/bin/pip install ollama openai
    .venv/bin/python tools/check_api_clients.py --kiln build/kiln [--model FILE.gguf]

Without --model it uses $KILN_TEST_MODELS/gemma-3-270m-q4_k_m.gguf when present,
else writes a tiny llama-shaped GGUF with the gguf package (the generation checks are skipped for it: it has no
weights to generate with). Exits non-zero on the first failed check.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
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


# Small bounds keep the run short on a 2-core machine: every answer is a few
# tokens; greedy sampling (temperature 0) makes the tool call reproducible.
FEW = {"num_predict": 8, "temperature": 0}
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 12},
                   "population": {"type": "integer", "minimum": 0, "maximum": 99999}},
    "required": ["city", "population"],
}
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "the city"}},
                   "required": ["city"]}}}


def check_ollama_generation(client, model):
    t = time.time()
    r = client.generate(model=model, prompt="Why is the sky blue?", options=FEW)
    check(r.done and r.done_reason in ("stop", "length") and 0 < r.eval_count <= 8 and r.prompt_eval_count > 0
          and r.total_duration > 0 and r.eval_duration > 0 and r.load_duration is not None,
          f"generate: {r.response!r} ({r.eval_count} tokens, done_reason {r.done_reason}, "
          f"{time.time() - t:.2f}s with the load)")
    parts = list(client.generate(model=model, prompt="Count to five.", options=FEW, stream=True))
    check(len(parts) >= 2 and parts[-1].done and not any(p.done for p in parts[:-1])
          and parts[-1].eval_count is not None and parts[-1].done_reason,
          f"generate (streamed): {len(parts)} chunks, {''.join(p.response for p in parts)!r}")

    msgs = [{"role": "user", "content": "Say hello."}]
    r = client.chat(model=model, messages=msgs, options=FEW)
    check(r.message.role == "assistant" and r.done and r.eval_count > 0, f"chat: {r.message.content!r}")
    parts = list(client.chat(model=model, messages=msgs, options=FEW, stream=True))
    text = "".join(p.message.content or "" for p in parts)
    check(parts[-1].done and parts[-1].done_reason and len(parts) >= 2,
          f"chat (streamed): {len(parts)} chunks, {text!r}")
    # Same seed, same answer (greedy anyway, but through the seed path too).
    a = client.chat(model=model, messages=msgs, options={**FEW, "seed": 42, "temperature": 0.7})
    b = client.chat(model=model, messages=msgs, options={**FEW, "seed": 42, "temperature": 0.7})
    check(a.message.content == b.message.content, "chat: the same seed gives the same answer")

    e = client.embed(model=model, input=["The sky is blue.", "Grass is green."])
    dims = {len(v) for v in e.embeddings}
    check(len(e.embeddings) == 2 and len(dims) == 1 and dims.pop() > 0 and e.prompt_eval_count > 0,
          f"embed: 2 vectors of {len(e.embeddings[0])} floats, prompt_eval_count {e.prompt_eval_count}")

    r = client.chat(model=model, messages=[{"role": "user", "content": "Name a city and its population as JSON."}],
                    format=CITY_SCHEMA, options={"num_predict": 96, "temperature": 0})
    doc = json.loads(r.message.content)
    jsonschema.validate(doc, CITY_SCHEMA)
    check(True, f"structured output (format=schema): {doc}")

    ps = client.ps().models
    check(any(m.model.startswith(model) for m in ps) and all(m.size > 0 for m in ps),
          f"ps shows the loaded model: {[(m.model, m.size, m.context_length) for m in ps]}")

    try:
        client.chat(model="missing-model", messages=msgs)
        check(False, "chat with an unknown model raises")
    except ollama.ResponseError as e:
        check(e.status_code == 404, f"chat unknown model: {e.status_code} {e.error}")


def check_tool_answer(calls, content, name_of, args_of, what):
    """The call must arrive parsed in tool_calls, not as content. (Qwen2.5-Coder-0.5B,
    the test model, writes it in a ```json fence instead of its template's
    <tool_call> tags; kiln's parser takes a leading bare or fenced call.)"""
    check(bool(calls) and name_of(calls[0]) == "get_weather" and "city" in args_of(calls[0]),
          f"{what}: tool_calls {[(name_of(c), args_of(c)) for c in calls or []]}, content {content!r}")


def check_ollama_tools(client, model):
    r = client.chat(model=model, messages=[{"role": "user", "content": "What is the weather in Paris right now?"}],
                    tools=[WEATHER_TOOL], options={"num_predict": 48, "temperature": 0})
    check_tool_answer(r.message.tool_calls, r.message.content, lambda c: c.function.name,
                      lambda c: dict(c.function.arguments), "ollama tools")
    # A history with a call and its result renders through the template.
    r = client.chat(model=model, tools=[WEATHER_TOOL], options=FEW, messages=[
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather",
                                                                          "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "21 C, sunny", "tool_name": "get_weather"}])
    check(r.done and r.eval_count > 0, f"ollama tools: answer after a tool result: {r.message.content!r}")


def check_openai_generation(oa, model, tools_model):
    msgs = [{"role": "user", "content": "Say hello."}]
    r = oa.chat.completions.create(model=model, messages=msgs, max_tokens=8, temperature=0)
    c = r.choices[0]
    check(r.object == "chat.completion" and r.id.startswith("chatcmpl-") and c.message.role == "assistant"
          and c.finish_reason in ("stop", "length") and r.usage.completion_tokens > 0
          and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens,
          f"openai chat.completions: {c.message.content!r} finish {c.finish_reason} usage {r.usage}")
    chunks = list(oa.chat.completions.create(model=model, messages=msgs, max_tokens=8, temperature=0, stream=True,
                                             stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    check(chunks[0].choices[0].delta.role == "assistant" and len(finishes) == 1 and chunks[-1].choices == []
          and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0,
          f"openai chat.completions (streamed, include_usage): {len(chunks)} chunks, {text!r}, "
          f"usage {chunks[-1].usage}")
    check(text == c.message.content, "openai: streamed and non-streamed greedy answers agree")

    r = oa.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Name a city and its population as JSON."}],
        max_tokens=96, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY_SCHEMA}})
    doc = json.loads(r.choices[0].message.content)
    jsonschema.validate(doc, CITY_SCHEMA)
    check(True, f"openai response_format json_schema: {doc}")

    r = oa.completions.create(model=model, prompt="The capital of France is", max_tokens=8, temperature=0)
    check(r.object == "text_completion" and r.choices[0].text and r.usage.completion_tokens > 0,
          f"openai completions: {r.choices[0].text!r}")
    parts = list(oa.completions.create(model=model, prompt="One, two,", max_tokens=8, temperature=0, stream=True))
    check(len(parts) >= 2 and parts[-1].choices[0].finish_reason in ("stop", "length"),
          f"openai completions (streamed): {''.join(p.choices[0].text for p in parts)!r}")

    # Without encoding_format the SDK asks for base64 and decodes it itself.
    e = oa.embeddings.create(model=model, input=["The sky is blue.", "Grass is green."])
    check(len(e.data) == 2 and e.data[1].index == 1 and len(e.data[0].embedding) > 0 and e.usage.prompt_tokens > 0,
          f"openai embeddings (base64, decoded by the SDK): {len(e.data)} x {len(e.data[0].embedding)}")
    f = oa.embeddings.create(model=model, input="The sky is blue.", encoding_format="float")
    check(len(f.data[0].embedding) == len(e.data[0].embedding)
          and max(abs(a - b) for a, b in zip(f.data[0].embedding, e.data[0].embedding)) < 1e-6,
          "openai embeddings (float) equal the base64 ones")

    for what, call in [("chat.completions", lambda: oa.chat.completions.create(model="missing-model", messages=msgs)),
                       ("completions", lambda: oa.completions.create(model="missing-model", prompt="x")),
                       ("embeddings", lambda: oa.embeddings.create(model="missing-model", input="x"))]:
        try:
            call()
            check(False, f"openai {what} with an unknown model raises")
        except openai.NotFoundError as e:
            check(e.status_code == 404, f"openai {what} unknown model: NotFoundError {e.status_code}")
    try:
        oa.chat.completions.create(model=model, messages=[])
        check(False, "openai chat.completions with no messages raises")
    except openai.BadRequestError as e:
        check(e.status_code == 400, f"openai empty messages: BadRequestError {e.status_code}")

    if tools_model:
        r = oa.chat.completions.create(
            model=tools_model, messages=[{"role": "user", "content": "What is the weather in Paris right now?"}],
            tools=[WEATHER_TOOL], max_tokens=48, temperature=0)
        c = r.choices[0]
        check(c.finish_reason == ("tool_calls" if c.message.tool_calls else "stop"), f"openai tools: finish_reason "
              f"{c.finish_reason}")
        check_tool_answer(c.message.tool_calls, c.message.content, lambda t: t.function.name,
                          lambda t: json.loads(t.function.arguments), "openai tools")
        # Streamed: the call arrives as tool_calls deltas (name, then arguments), finish_reason tool_calls.
        name, args, finish = "", "", None
        for chunk in oa.chat.completions.create(
                model=tools_model, messages=[{"role": "user", "content": "What is the weather in Paris right now?"}],
                tools=[WEATHER_TOOL], max_tokens=48, temperature=0, stream=True):
            if not chunk.choices:
                continue
            for t in chunk.choices[0].delta.tool_calls or []:
                name += t.function.name or ""
                args += t.function.arguments or ""
            finish = chunk.choices[0].finish_reason or finish
        check(name == "get_weather" and "city" in json.loads(args or "{}") and finish == "tool_calls",
              f"openai tools streamed: {name!r} {args!r} finish_reason {finish}")
        r = oa.chat.completions.create(model=tools_model, tools=[WEATHER_TOOL], max_tokens=8, temperature=0, messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "21 C, sunny"}])
        check(r.choices[0].message.content is not None and r.usage.completion_tokens > 0,
              f"openai tools: answer after a tool result: {r.choices[0].message.content!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--model")
    ap.add_argument("--no-generation", action="store_true", help="only the management endpoints")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kiln-clients-"))
    model = args.model
    if not model:
        real = Path(os.environ.get("KILN_TEST_MODELS", Path.home() / ".cache/kiln/models")) / "gemma-3-270m-q4_k_m.gguf"
        model = str(real) if real.exists() else None
    generation = model is not None
    if not model:
        model = str(tmp / "tiny.gguf")
        tiny_gguf(model)
    print(f"model: {model}")
    qwen = Path(os.environ.get("KILN_TEST_MODELS", Path.home() / ".cache/kiln/models")) / "qwen-0.5b.gguf"

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

        if generation and not args.no_generation:
            t = time.time()
            check_ollama_generation(client, "kiln-test")
            tools_model = None
            if qwen.exists():
                client.create(model="kiln-qwen", files={"model.gguf": client.create_blob(str(qwen))}, stream=False)
                check_ollama_tools(client, "kiln-qwen")
                tools_model = "kiln-qwen"
            else:
                print(f"SKIP tools: {qwen} not found")
            check_openai_generation(oa, "kiln-test", tools_model)
            print(f"generation checks took {time.time() - t:.1f}s")
        print("all checks passed")
    finally:
        server.terminate()
        code = server.wait(timeout=10)
        print(f"kiln serve exited with {code} after SIGTERM")
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
