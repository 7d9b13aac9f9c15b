"""llama.cpp's own KL(f16 || q8_0 KV cache) on a text, the same measurement
as kv_quant_quality.cpp, so kiln's q8_0 cache can be compared with llama.cpp's
on the same model and tokens. Needs llama-cpp-python (.venv-ref).

    .venv-ref/bin/python tools/kv_tiers/llamacpp_kv_quality.py MODEL TEXT_FILE

The llama.cpp that llama-cpp-python 0.3.36 vendors rotates Q/K/V by a
Walsh-Hadamard transform whenever the K/V cache type is quantized
(attn_rot_k / attn_rot_v in src/llama-kv-cache.cpp), as kiln's
q8_0 cache does (src/kv/kv_row_codec.h); LLAMA_ATTN_ROT_DISABLE=1 in the
environment turns that off, for a comparison with plain q8_0 rows.
"""
import sys

import llama_cpp
import numpy as np

GGML_TYPE_F16, GGML_TYPE_Q8_0 = 1, 8


def log_probs(model, text, kv_type):
    llm = llama_cpp.Llama(model_path=model, n_ctx=2048, n_batch=512, n_threads=2, logits_all=True,
                          flash_attn=True, type_k=kv_type, type_v=kv_type, verbose=False)
    tokens = llm.tokenize(text.encode(), add_bos=True, special=False)
    llm.eval(tokens)
    logits = np.array(llm.scores[: len(tokens)], dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def main():
    model, text = sys.argv[1], open(sys.argv[2]).read()
    p, q = log_probs(model, text, GGML_TYPE_F16), log_probs(model, text, GGML_TYPE_Q8_0)
    kl = (np.exp(p) * (p - q)).sum(axis=1)
    agree = (p.argmax(axis=1) == q.argmax(axis=1)).mean()
    print(f"llama.cpp {model}: {len(kl)} positions, KL(f16 || q8_0) mean {kl.mean():.6f} max {kl.max():.6f} "
          f"(at {kl.argmax()}), top-1 agreement {100 * agree:.2f}%")


if __name__ == "__main__":
    main()
