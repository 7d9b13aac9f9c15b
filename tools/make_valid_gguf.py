#!/usr/bin/env python3
"""Writes tests/fixtures/gguf/valid/gguf_py_writer.gguf with the `gguf` Python
package's GGUFWriter (the reference writer), so kiln's reader is checked on a
file it did not write itself: every scalar type, strings, arrays (nested too),
a custom alignment and tensors of several ggml types.

The values below are mirrored in tests/gguf/reference_file_test.cpp.
Usage: .venv/bin/python tools/make_valid_gguf.py
"""
import os

import numpy as np
import gguf
from gguf import GGUFValueType as T

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "gguf", "valid",
                   "gguf_py_writer.gguf")


def main():
    w = gguf.GGUFWriter(OUT, arch="testarch")
    w.add_custom_alignment(64)
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_uint64("t.u64", 18000000000000000000)
    w.add_int64("t.i64", -9000000000000000000)
    w.add_float32("t.f32", 0.15625)
    w.add_float64("t.f64", -2.5e-300)
    w.add_bool("t.bool", True)
    w.add_string("t.string", "kiln ✓")
    w.add_array("t.arr_i32", [1, -2, 3])
    w.add_array("t.arr_str", ["a", "bc", ""])
    w.add_array("t.arr_f32", [0.5, -1.0])
    w.add_array("t.arr_nested", [[1, 2], [3]])
    w.add_key_value("t.arr_u8", [7, 8, 9], T.ARRAY, sub_type=T.UINT8)
    # Tensors: the data is a simple ramp so the test can check bytes.
    w.add_tensor("f32.w", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.add_tensor("f16.w", np.arange(8, dtype=np.float16))
    q8 = np.arange(2 * 34, dtype=np.uint8).reshape(2, 34)  # 2 rows of one Q8_0 block (32 values)
    w.add_tensor("q8.w", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
