#!/usr/bin/env python3
"""Generates tests/fixtures/tokenizer/: a text corpus and the token ids an
outside reference gives for it, for kiln's tokenizer tests.

How the reference is made (the exact recipe, so anyone can rerun it):
  * HF: transformers' own GGUF tokenizer builder,
    transformers.integrations.gguf.gguf_tokenizer_mapping.convert_gguf_tokenizer
    (what AutoTokenizer.from_pretrained(dir, gguf_file=...) calls). The GGUF
    metadata is read with the `gguf` package and fed to it under transformers'
    own key names (GGUF_TOKENIZER_MAPPING), because transformers' GGUF *reader*
    imports torch, which is not installed here. The result is an HF
    `tokenizers.Tokenizer`:
      - gemma3: BPE with byte fallback, merges rebuilt from the vocabulary in
        file order, normalizer " " -> "▁", CONTROL tokens as special added
        tokens, USER_DEFINED tokens as non-special added tokens;
      - qwen2: byte-level BPE with the file's merges, pre-tokenizer
        Split(qwen2 regex, isolated) + ByteLevel, no normalizer.
    transformers' tokenizer classes add BOS themselves (the backend's
    post-processor adds nothing), so "ids_add_special" is the plain encoding
    with tokenizer.ggml.bos_token_id prepended when add_bos_token is true (and
    eos appended when add_eos_token is true), which is what transformers does.
    "ids_no_parse_special" sets encode_special_tokens=True (HF's
    split_special_tokens): CONTROL tokens written in the text are not matched.
  * Pre-tokenizer fixtures: tokenizers.pre_tokenizers.Split(Regex(pattern),
    behavior="isolated") with the llama3 / qwen2 / gpt2 patterns below.
  * llama.cpp: if llama_cpp (llama-cpp-python) imports, every case is also
    tokenized with llama.cpp (vocab_only) and disagreements with HF are listed
    in llamacpp_diff.json; they are informational, the tests use HF.

Usage: .venv/bin/python tools/gen_tokenizer_fixtures.py [MODELS_DIR]
       .venv-ref/bin/python tools/gen_tokenizer_fixtures.py --llamacpp-only [MODELS_DIR]
(MODELS_DIR defaults to $KILN_TEST_MODELS, then /tmp/models.)
Needs: pip install transformers tokenizers gguf (no torch).
"""
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "tokenizer"
MODELS = {
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
    "qwen2": "qwen-0.5b.gguf",
}

PATTERNS = {
    "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}


def corpus():
    c = [
        ("empty", ""),
        ("single_space", " "),
        ("two_spaces", "  "),
        ("single_newline", "\n"),
        ("prose", "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times."),
        ("prose_leading_space", " Hello world"),
        ("prose_trailing_spaces", "Hello world   "),
        ("contractions", "I'm sure you're right, but they've said it's what we'll do; I'd say he's won't. DON'T YOU'LL I'M"),
        ("contractions_odd", "'s 't 're 've 'm 'll 'd 'S 'T 'RE ''s 'x ' s"),
        ("numbers", "1 12 123 1234 12345 123456789012345678901234567890 3.14159 -42 1,000,000 0x1F 1e-10"),
        ("numbers_mixed", "abc123def 2024-01-15T10:30:00Z v1.2.3 $19.99 50% #1"),
        ("urls", "See https://example.com/path/to/page?query=1&x=y#frag and http://localhost:8080/api/v1 or mailto:a.b@c.org"),
        ("python", "def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n"),
        ("cpp", "#include <vector>\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\tfor (auto& x : v) x *= 2;\n\treturn v.size() > 2 ? 0 : 1;\n}\n"),
        ("rust", "fn main() {\n    let xs: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", xs);\n}"),
        ("js", "const f = async (a, b) => { await fetch(`/api/${a}`); return a ?? b; };\n// comment\n/* block */"),
        ("html", "<div class=\"x\"><b>bold</b> <i>it</i><table><tr><td>1</td></tr></table></div>"),
        ("json", "{\"name\": \"kiln\", \"tags\": [\"a\", \"b\"], \"n\": null, \"ok\": true}"),
        ("indent_spaces", "a\n  b\n    c\n        d\n                e"),
        ("whitespace_runs", "a  b   c    d     e\t\tf\t \tg\n\nh\n\n\ni \n j\r\nk\r\r\nl"),
        ("long_space_run", "x" + " " * 40 + "y"),
        ("long_newline_run", "x" + "\n" * 40 + "y"),
        ("long_tab_run", "x" + "\t" * 35 + "y"),
        ("only_whitespace", " \t\n \n\t  "),
        ("trailing_newlines", "end\n\n"),
        ("cjk_chinese", "我爱自然语言处理。今天天气很好！"),
        ("cjk_japanese", "日本語のテキストです。カタカナとひらがな、漢字。"),
        ("cjk_korean", "안녕하세요, 세계! 한국어 문장입니다."),
        ("emoji", "I love 🍕 and 🎉! 😀😃😄"),
        ("emoji_zwj", "Family: 👨‍👩‍👧‍👦 couple: 👩‍❤️‍👨 flag: 🏳️‍🌈 🇺🇸🇯🇵"),
        ("emoji_skin", "👍🏻 👍🏼 👍🏽 👍🏾 👍🏿 🧑🏾‍💻"),
        ("arabic", "مرحبا بالعالم! هذه جملة عربية."),
        ("hebrew", "שלום עולם, זה משפט בעברית."),
        ("devanagari", "नमस्ते दुनिया। यह हिंदी वाक्य है।"),
        ("thai", "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่าง"),
        ("cyrillic_greek", "Привет, мир! Γειά σου Κόσμε! Ωμέγα"),
        ("accents", "café naïve résumé Ångström Zürich São Paulo"),
        ("combining_marks", "cafe\u0301 n\u0303 a\u0308\u0304 Z\u0335\u0321a\u0336lgo"),
        ("math_symbols", "∀x∈ℝ: x² ≥ 0 ∑∫√∞ ≠ ≈ ± × ÷ → ⇒ ∧ ∨ ¬"),
        ("unicode_spaces", "a\u00a0b\u2003c\u3000d\u2009e\u202ff\u0085g\u2028h"),
        ("zero_width", "a\u200bb\u200cc\u200dd\ufeffe\u2060f"),
        ("control_chars", "a\x00b\x01c\x07d\x1be[0m\x7f f\x1c\x1dg"),
        ("rare_chars", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 𓀀 ꙮ ﷽ ⸻"),
        ("private_use", "a\ue000b\U000f0000c"),
        ("sp_marker_literal", "a\u2581b \u2581\u2581c"),
        ("byte_token_text", "<0x41> <0xZZ> <unk> <s> </s>"),
        ("gemma_turns", "<start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>"),
        ("gemma_specials_glued", "x<bos>y<eos>z<pad><unused0><start_of_image>"),
        ("chatml", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
        ("qwen_specials_glued", "a<|endoftext|>b<|im_start|><|im_end|>c<tool_call>{\"x\":1}</tool_call><|fim_prefix|>"),
        ("special_partial", "<|im_start <start_of_turn <|im_end|x <|endoftext|"),
        ("special_with_spaces", " <|im_start|> user <end_of_turn> "),
        ("pad_tokens_text", "[PAD151665] [PAD151935]"),
        ("mixed_scripts", "English русский 中文 日本語 한국어 العربية עברית हिन्दी 🌍"),
        ("punctuation", "Hello!!! What??? ...and---then... (nested [brackets {here}]) \"quotes\" 'single' `back`"),
        ("repeated_chars", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ====================== ------------ !!!!!!!!"),
        ("markdown", "# Title\n\n- item 1\n- item 2\n\n```python\nx = 1\n```\n\n**bold** _it_ [link](http://x.y)"),
        ("crlf_text", "line one\r\nline two\r\n\r\nline four"),
        ("newline_space_mix", "a \n b\n \n c \n\n d"),
        ("apostrophes_unicode", "it’s don’t ‘quoted’ “double”"),
        ("long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism"),
        ("hex_and_base64", "deadbeef 0xDEADBEEF SGVsbG8gV29ybGQh== a1b2c3d4e5f6"),
        ("sql", "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;"),
        ("go", "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n"),
    ]
    # A longer mixed paragraph exercises long SentencePiece fragments.
    c.append(("long_mixed", " ".join(t for _, t in c[4:30])))
    return c


def read_tokenizer_dict(path):
    from gguf import GGUFReader
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_MAPPING

    reader = GGUFReader(path)
    arch = reader.fields["general.architecture"].contents()
    tok = {}
    for group in GGUF_TOKENIZER_MAPPING.values():
        for key, name in group.items():
            field = reader.fields.get("tokenizer." + key)
            if field is not None:
                tok[name] = field.contents()
    ids = {k: reader.fields[f"tokenizer.ggml.{k}"].contents()
           for k in ("bos_token_id", "eos_token_id") if f"tokenizer.ggml.{k}" in reader.fields}
    return arch, tok, ids


def hf_tokenizer(arch, tok):
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer
    backend, _ = convert_gguf_tokenizer(arch, dict(tok))
    return backend


def llama_cpp_vocab(path):
    try:
        import llama_cpp
    except Exception:
        return None
    return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    models_dir = Path(args[0] if args else os.environ.get("KILN_TEST_MODELS", "/tmp/models"))
    if "--llamacpp-only" in sys.argv:
        compare_llama_cpp(models_dir)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    cases = corpus()
    with open(OUT / "corpus.jsonl", "w", encoding="utf-8") as f:
        for name, text in cases:
            f.write(json.dumps({"name": name, "text": text}, ensure_ascii=False) + "\n")

    from tokenizers import Regex, pre_tokenizers
    for pname, pattern in PATTERNS.items():
        split = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
        rows = [{"name": n, "pieces": [p for p, _ in split.pre_tokenize_str(t)]} for n, t in cases]
        with open(OUT / f"pretok_{pname}.json", "w", encoding="utf-8") as f:
            json.dump({"pattern": pattern, "reference": "tokenizers.pre_tokenizers.Split(Regex(pattern), behavior='isolated')",
                       "cases": rows}, f, ensure_ascii=False, indent=0)

    for key, fname in MODELS.items():
        path = models_dir / fname
        if not path.exists():
            print(f"skip {key}: {path} missing")
            continue
        arch, tok, ids = read_tokenizer_dict(str(path))
        hf = hf_tokenizer(arch, tok)
        bos, eos = ids.get("bos_token_id"), ids.get("eos_token_id")
        add_bos = tok.get("add_bos_token", tok.get("tokenizer_type") == "llama")
        add_eos = tok.get("add_eos_token", False)
        rows = []
        for name, text in cases:
            hf.encode_special_tokens = False
            plain = hf.encode(text, add_special_tokens=False).ids
            hf.encode_special_tokens = True
            no_parse = hf.encode(text, add_special_tokens=False).ids
            hf.encode_special_tokens = False
            with_special = ([bos] if add_bos and bos is not None else []) + plain + \
                           ([eos] if add_eos and eos is not None else [])
            rows.append({
                "name": name,
                "ids": plain,
                "ids_add_special": with_special,
                "ids_no_parse_special": no_parse,
                "decoded": hf.decode(plain, skip_special_tokens=False),
                "decoded_skip_special": hf.decode(with_special, skip_special_tokens=True),
            })
        with open(OUT / f"{key}.json", "w", encoding="utf-8") as f:
            json.dump({"model": fname, "reference": "transformers convert_gguf_tokenizer (see tools/gen_tokenizer_fixtures.py)",
                       "cases": rows}, f, ensure_ascii=False, indent=0)
        print(f"{key}: {len(rows)} cases")

    compare_llama_cpp(models_dir)


def compare_llama_cpp(models_dir):
    """Tokenizes the corpus with llama.cpp and records where it disagrees with
    the committed HF fixtures (informational only)."""
    cases = [json.loads(line) for line in open(OUT / "corpus.jsonl", encoding="utf-8")]
    diffs = {}
    for key, fname in MODELS.items():
        path = models_dir / fname
        fixture = OUT / f"{key}.json"
        if not path.exists() or not fixture.exists():
            continue
        llm = llama_cpp_vocab(path)
        if llm is None:
            print("llama_cpp not importable here; run this script with --llamacpp-only from a venv that has it")
            return
        rows = json.load(open(fixture, encoding="utf-8"))["cases"]
        d = []
        for case, row in zip(cases, rows):
            for parse, want in ((True, row["ids"]), (False, row["ids_no_parse_special"])):
                got = llm.tokenize(case["text"].encode("utf-8"), add_bos=False, special=parse)
                if got != want:
                    d.append({"name": case["name"], "parse_special": parse, "hf": want, "llama_cpp": got})
        diffs[key] = d
        print(f"{key}: llama.cpp disagrees with HF on {len(d)} of {2 * len(rows)} encodings")
    with open(OUT / "llamacpp_diff.json", "w", encoding="utf-8") as f:
        json.dump(diffs, f, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
