/* AVX-VNNI (Alder Lake and later client parts, Zen 5): the tiles of tiles256.h with the
 * 256-bit, VEX-encoded vpdpbusd. */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx2,fma,f16c,avxvnni")
#define QK_VNNI 1
#define DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))
#include "tiles256.h"
DEFINE_VARIANT256(qk_avxvnni, 6)
#endif
