#!/usr/bin/env python3
"""Reference distributions for kiln's sampler chain, from llama.cpp itself.

Runs llama.cpp's samplers (through llama-cpp-python's C API, no model needed)
over random logit rows with a penalty history, in the chain Ollama's llama
runner builds: penalties -> top_k -> typical_p -> top_p -> min_p -> temp.
Writes, per case, the candidates left with their final logits and
probabilities (softmax of what remains), for tests/engine/sampling_llamacpp_test.cpp.

Run: .venv-ref/bin/python tools/gen_sampling_fixtures.py
Output: tests/fixtures/engine/sampling_llamacpp.json
"""
import ctypes
import json
import math
import os
import random

import llama_cpp as L
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "engine", "sampling_llamacpp.json")


def run_chain(logits, history, p):
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    add = lambda s: L.llama_sampler_chain_add(chain, s)
    add(L.llama_sampler_init_penalties(len(logits), p["repeat_last_n"], p["repeat_penalty"], p["frequency_penalty"],
                                       p["presence_penalty"]))
    add(L.llama_sampler_init_top_k(p["top_k"]))
    add(L.llama_sampler_init_typical(p["typical_p"], 0))
    add(L.llama_sampler_init_top_p(p["top_p"], 0))
    add(L.llama_sampler_init_min_p(p["min_p"], 0))
    add(L.llama_sampler_init_temp(p["temperature"]))
    for t in history:
        L.llama_sampler_accept(chain, t)
    n = len(logits)
    data = (L.llama_token_data * n)()
    for i, x in enumerate(logits):
        data[i].id, data[i].logit, data[i].p = i, x, 0.0
    arr = L.llama_token_data_array(data=ctypes.cast(data, ctypes.POINTER(L.llama_token_data)), size=n,
                                   selected=-1, sorted=False)
    L.llama_sampler_apply(chain, ctypes.byref(arr))
    kept = [(arr.data[i].id, arr.data[i].logit) for i in range(arr.size)]
    L.llama_sampler_free(chain)
    kept = [(i, x) for i, x in kept if x != -math.inf]  # temp 0 marks the losers -inf
    m = max(x for _, x in kept)
    z = sum(math.exp(x - m) for _, x in kept)
    return [{"id": i, "logit": x, "p": math.exp(x - m) / z} for i, x in kept]


def short_float32(x):
    f = np.float32(x)
    text = np.format_float_positional(f, unique=True, trim="-")
    # C++ reads the text as a double and narrows it: check that lands on f.
    assert np.float32(float(text)) == f
    return float(text)  # its repr is that same short text


def main():
    rng = random.Random(20261121)
    defaults = dict(temperature=0.8, top_k=40, top_p=0.9, min_p=0.0, typical_p=1.0, repeat_last_n=64,
                    repeat_penalty=1.1, presence_penalty=0.0, frequency_penalty=0.0)
    variants = [
        {},
        dict(top_k=0),
        dict(top_k=0, top_p=0.5),
        dict(top_k=5, top_p=1.0),
        dict(top_k=100, top_p=0.95, min_p=0.05),
        dict(top_k=0, top_p=1.0, min_p=0.1),
        dict(typical_p=0.7),
        dict(top_k=0, typical_p=0.5, top_p=1.0),
        dict(temperature=1.5, top_p=0.99),
        dict(temperature=0.3, min_p=0.2),
        dict(temperature=0.0, repeat_penalty=1.3),
        dict(temperature=0.0, typical_p=0.6, top_k=20),
        dict(repeat_penalty=1.5, frequency_penalty=0.4, presence_penalty=0.6),
        dict(repeat_penalty=0.8, presence_penalty=-0.5, top_k=10),
        dict(repeat_last_n=8, repeat_penalty=2.0),
        dict(repeat_last_n=0, repeat_penalty=2.0),
        dict(top_p=0.0),
        dict(top_k=1),
    ]
    cases = []
    for vocab in (50, 300, 2000):
        for v in variants:
            params = dict(defaults, **v)
            scale = rng.choice([0.7, 1.5, 3.0])
            logits = [rng.gauss(0.0, 1.0) * scale for _ in range(vocab)]
            # A history that repeats some tokens; favour tokens with high
            # logits so the penalties change the top of the distribution.
            best = sorted(range(vocab), key=lambda i: -logits[i])[:20]
            history = [rng.choice(best) if rng.random() < 0.6 else rng.randrange(vocab) for _ in range(90)]
            logits = [short_float32(x) for x in logits]
            cases.append(dict(vocab=vocab, params=params, logits=logits, history=history,
                              expected=run_chain(logits, history, params)))
    with open(OUT, "w") as f:
        json.dump(dict(generator="tools/gen_sampling_fixtures.py", llama_cpp_python=L.__version__, cases=cases), f)
    print(f"{len(cases)} cases -> {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
