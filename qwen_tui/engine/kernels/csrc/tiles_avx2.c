/* AVX2 + FMA + F16C: the tiles of tiles256.h with maddubs-based dot products. */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx2,fma,f16c")
#define QK_VNNI 0
#include "tiles256.h"
DEFINE_VARIANT256(qk_avx2, 6)
#endif
