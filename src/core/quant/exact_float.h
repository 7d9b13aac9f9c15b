#pragma once
// Include this last in a .cpp whose float arithmetic must be bit-exact with
// ggml's reference code and numpy: it stops the compiler from fusing a*b + c
// into one FMA (GCC does so by default in C++ with -march=native), which
// rounds once instead of twice and changes the last bit of the results.
// Explicit FMA intrinsics elsewhere are not affected.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
