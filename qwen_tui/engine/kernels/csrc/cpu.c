/* Which variants this CPU (and its operating system) can run. */
#include "qk.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

const char *const QK_ISA_NAMES[ISA_COUNT] = {"ref", "avx2", "avxvnni", "avx512vl", "avx512"};

int qk_isa_supported(qk_isa isa)
{
    if (isa == ISA_REF)
        return 1;
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                     __builtin_cpu_supports("f16c");
    const int avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
    switch (isa) {
    case ISA_AVX2:
        return avx2;
    case ISA_AVXVNNI:
        return avx2 && __builtin_cpu_supports("avxvnni");
    case ISA_AVX512VL:
    case ISA_AVX512:
        return avx512;
    default:
        return 0;
    }
#else
    return 0;
#endif
}

const qk_variant *qk_variant_for(qk_isa isa)
{
    if (!qk_isa_supported(isa))
        return 0;
    switch (isa) {
    case ISA_REF:
        return &qk_ref;
#if defined(__x86_64__) || defined(_M_X64)
    case ISA_AVX2:
        return &qk_avx2;
    case ISA_AVXVNNI:
        return &qk_avxvnni;
    case ISA_AVX512VL:
        return &qk_avx512vl;
    case ISA_AVX512:
        return &qk_avx512;
#endif
    default:
        return 0;
    }
}

int qk_bigdl_fuses(void)
{
#if defined(__x86_64__) || defined(_M_X64)
    /* libllama-api.so's own test, read from its code: "GenuineIntel", then AMX-INT8,
     * AVX512-VNNI, AVX-VNNI or AVX2 (CPUID leaf 7) for its amx, avx512, avxvnni or avx2 build,
     * all of which fuse; anything else gets libllama_avx.so, which does not */
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d) || b != 0x756e6547 || d != 0x49656e69 || c != 0x6c65746e)
        return 0;
    if (a < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    const int amx = (d >> 25) & 1, avx512vnni = (c >> 11) & 1, avx2 = (b >> 5) & 1;
    __cpuid_count(7, 1, a, b, c, d);
    const int avxvnni = (a >> 4) & 1;
    return amx || avx512vnni || avxvnni || avx2;
#else
    return 0;
#endif
}
