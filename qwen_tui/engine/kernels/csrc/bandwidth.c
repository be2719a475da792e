/*
 * Read bandwidth: how fast `threads` threads stream a buffer from memory. `bench` divides the
 * bytes a decoded token reads (the weights) by it to say how close decode is to the memory
 * limit. Each thread reads its own contiguous part once; the XOR of every word is returned so
 * the reads cannot be optimized away.
 */
#include <stddef.h>
#include <stdint.h>

#include "qk.h"

/* Compiled for each vector width and picked when the module loads (GCC's ifunc): the widest
 * loads this CPU has, as the matmul kernels use, so the probe is not slower than they are. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
uint64_t qk_read_all(const uint64_t *words, size_t count, int threads)
{
    uint64_t total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(^ : total)
    for (size_t i = 0; i < count; i += 8) {
        uint64_t a = words[i] ^ words[i + 1], b = words[i + 2] ^ words[i + 3];
        uint64_t c = words[i + 4] ^ words[i + 5], d = words[i + 6] ^ words[i + 7];
        total ^= (a ^ b) ^ (c ^ d);
    }
    return total;
}
