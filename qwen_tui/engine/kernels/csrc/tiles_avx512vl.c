/* The AVX-VNNI tiles compiled with the EVEX-encoded 256-bit vpdpbusd of AVX-512 VL + VNNI:
 * the same source as tiles_avxvnni.c, so machines with AVX-512 run (and test) it too. */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")
#define QK_VNNI 1
#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#include "tiles256.h"
DEFINE_VARIANT256(qk_avx512vl, 6)
#endif
