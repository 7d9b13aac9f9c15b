#!/usr/bin/env python3
"""Writes the malformed-GGUF corpus tests/fixtures/gguf/malformed/*.gguf, one
small file per defect, named after the defect, plus EXPECTED.txt: for each file
a phrase the reader's FormatError message must contain. Also writes
tests/fixtures/gguf/valid/minimal.gguf, the valid file the defects depart from.

The files are built byte by byte (struct), independent of any GGUF library, so
each defect is exactly the one named. Files found by the fuzzer are kept in
tests/fixtures/gguf/malformed/fuzz_*.gguf and their phrases in FUZZ_EXPECTED
below; this script leaves those files alone.

Usage: python3 tools/make_malformed_gguf.py
"""
import os
import struct

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "gguf")
OUT = os.path.join(FIXTURES, "malformed")
VALID = os.path.join(FIXTURES, "valid")

# GGUF value type ids
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
# ggml type ids used here
GGML_F32, GGML_Q8_0, GGML_Q4_K = 0, 8, 12


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def gstr(s, length=None):
    b = s.encode() if isinstance(s, str) else s
    return u64(len(b) if length is None else length) + b


def kv(key, vtype, payload):
    return gstr(key) + u32(vtype) + payload


def tinfo(name, dims, ggml_type, offset):
    return gstr(name) + u32(len(dims)) + b"".join(u64(d) for d in dims) + u32(ggml_type) + u64(offset)


def gguf(kvs=(), tinfos=(), data=b"", version=3, magic=b"GGUF", n_tensors=None, n_kv=None,
         alignment=32, pad=True):
    head = magic + u32(version) + u64(len(tinfos) if n_tensors is None else n_tensors)
    head += u64(len(kvs) if n_kv is None else n_kv) + b"".join(kvs) + b"".join(tinfos)
    if pad:
        head += b"\0" * ((alignment - len(head) % alignment) % alignment)
    return head + data


# Inputs the fuzzer found crashing or misbehaving (files fuzz_<what>.gguf, kept
# as found) and the phrase each must now produce.
FUZZ_EXPECTED = {
    # shape {0, ~1.0e17, ~8.1e18, 4}: zero elements, but rows = ne1*ne2 overflowed
    # int64 in TensorInfo::nrows() (UBSan), found by tools/fuzz/run.sh.
    "fuzz_zero_dim_rows_overflow.gguf": "overflows int64",
}

ARCH = kv("general.architecture", STRING, gstr("test"))
F32_4 = tinfo("a", [4], GGML_F32, 0)        # 16 bytes at offset 0
DATA16 = bytes(range(16))


def valid():
    return gguf([ARCH], [F32_4], DATA16 + b"\0" * 16)


def cases():
    """(file name, bytes, phrase the error message must contain)"""
    full = valid()
    yield "empty_file", b"", "truncated reading magic"
    yield "bad_magic", b"GGML" + full[4:], "bad magic"
    yield "version_1", gguf([ARCH], version=1), "version 1"
    yield "version_0", gguf([ARCH], version=0), "unsupported GGUF version 0"
    yield "version_4", gguf([ARCH], version=4), "unsupported GGUF version 4"
    # A big-endian writer stores version 3 as 00 00 00 03 (and counts big-endian too).
    yield "big_endian", b"GGUF" + struct.pack(">IQQ", 3, 0, 0), "big-endian"
    yield "truncated_in_version", full[:6], "truncated reading version"
    yield "truncated_in_counts", full[:20], "truncated reading metadata key/value count"
    yield "truncated_in_key", full[:24 + 8 + 5], "metadata key length 20 exceeds the 5 bytes left"
    yield "truncated_in_value_type", full[:24 + 8 + 20 + 2], "truncated reading metadata value type"
    yield "truncated_in_string_value", full[:24 + 8 + 20 + 4 + 8 + 2], "string value length 4 exceeds the 2 bytes left"
    yield "truncated_in_tensor_info", full[:24 + 44 + 24], "truncated reading tensor type"
    yield "truncated_tensor_data", full[:len(full) - 16 - 8], "beyond the data section"
    yield "kv_count_2pow60", gguf([ARCH], n_kv=1 << 60), "metadata key/value count 1152921504606846976"
    yield "tensor_count_2pow60", gguf([ARCH], n_tensors=1 << 60), "tensor count 1152921504606846976"
    yield "array_length_2pow60", gguf([kv("arr", ARRAY, u32(U32) + u64(1 << 60))]), "array length 1152921504606846976"
    yield "string_array_length_2pow60", gguf([kv("arr", ARRAY, u32(STRING) + u64(1 << 60))]), "array length"
    yield "key_length_too_large", gguf([gstr("k", length=1 << 62) + u32(U8) + b"\1"]), "metadata key length 4611686018427387904"
    yield "string_value_length_too_large", gguf([kv("s", STRING, u64(1 << 40) + b"abc")]), "string value length 1099511627776"
    yield "tensor_name_length_too_large", gguf([ARCH], [gstr("t", length=1 << 50) + u32(1)]), "tensor name length"
    yield "n_dims_5", gguf([ARCH], [tinfo("five", [1, 1, 1, 1, 1], GGML_F32, 0)], b"\0" * 32), "5 dimensions"
    yield "unknown_value_type", gguf([kv("weird", 13, u32(0))]), "unknown value type 13"
    yield "unknown_array_element_type", gguf([kv("arr", ARRAY, u32(99) + u64(1) + u32(0))]), "unknown array element type 99"
    yield "duplicate_key", gguf([ARCH, kv("general.architecture", STRING, gstr("again"))]), "duplicate metadata key 'general.architecture'"
    yield "alignment_not_power_of_two", gguf([kv("general.alignment", U32, u32(48))], alignment=48), "not a power of two"
    yield "alignment_zero", gguf([kv("general.alignment", U32, u32(0))], pad=False), "general.alignment 0"
    yield "alignment_wrong_type", gguf([kv("general.alignment", U64, u64(64))], alignment=64), "general.alignment has type u64"
    yield "invalid_bool", gguf([kv("flag", BOOL, b"\x02")]), "neither 0 nor 1"
    nested = u32(U8) + u64(0)
    for _ in range(40):
        nested = u32(ARRAY) + u64(1) + nested
    yield "array_nesting_too_deep", gguf([kv("deep", ARRAY, nested)]), "nested deeper than"
    yield "empty_tensor_name", gguf([ARCH], [tinfo("", [4], GGML_F32, 0)], DATA16), "empty name"
    yield "duplicate_tensor_name", gguf([ARCH], [F32_4, tinfo("a", [4], GGML_F32, 32)], DATA16 + b"\0" * 16 + DATA16), "duplicate tensor name 'a'"
    yield "unknown_ggml_type", gguf([ARCH], [tinfo("t", [4], 77, 0)], DATA16), "unknown ggml type id 77"
    yield "dims_product_overflow", gguf([ARCH], [tinfo("huge", [1 << 32, 1 << 32], GGML_F32, 0)], DATA16), "overflows int64"
    yield "negative_dimension", gguf([ARCH], [tinfo("neg", [(1 << 64) - 4], GGML_F32, 0)], DATA16), "negative"
    yield "row_not_multiple_of_block", gguf([ARCH], [tinfo("q", [100, 2], GGML_Q4_K, 0)], b"\0" * 288), "not a multiple of the q4_K block size 256"
    yield "tensor_offset_unaligned", gguf([ARCH], [tinfo("a", [4], GGML_F32, 8)], b"\0" * 32), "offset 8 is not a multiple of the alignment 32"
    yield "tensor_offset_out_of_bounds", gguf([ARCH], [tinfo("a", [4], GGML_F32, 1 << 40)], DATA16), "beyond the data section"
    yield "tensor_size_beyond_file", gguf([ARCH], [tinfo("big", [1 << 20], GGML_F32, 0)], DATA16), "tensor 'big' data"
    yield "tensors_overlap", gguf([ARCH], [tinfo("a", [32], GGML_Q8_0, 0), tinfo("b", [4], GGML_F32, 32)], b"\0" * 64), "overlaps tensor 'a'"
    yield "data_section_beyond_eof", gguf([ARCH], [tinfo("z", [0], GGML_F32, 0)], pad=False), "data section starts at byte"


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):  # regenerate, but keep fuzzer finds
        if name.endswith(".gguf") and not name.startswith("fuzz_"):
            os.remove(os.path.join(OUT, name))
    lines = ["# <file> <phrase the FormatError message must contain>; written by tools/make_malformed_gguf.py"]
    for name, data, phrase in cases():
        with open(os.path.join(OUT, name + ".gguf"), "wb") as f:
            f.write(data)
        lines.append(f"{name}.gguf {phrase}")
    for name, phrase in sorted(FUZZ_EXPECTED.items()):
        lines.append(f"{name} {phrase}")
    with open(os.path.join(OUT, "EXPECTED.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.makedirs(VALID, exist_ok=True)
    with open(os.path.join(VALID, "minimal.gguf"), "wb") as f:
        f.write(valid())  # the base every defect above departs from; must parse
    print(f"wrote {len(lines) - 1} malformed files to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
