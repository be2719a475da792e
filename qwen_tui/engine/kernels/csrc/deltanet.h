/* deltanet.c: Qwen3.5's Gated DeltaNet between its projections (float32, AVX2). Rows are
 * `*_row` floats apart; every width is a multiple of 8. */
#ifndef QWEN_TUI_DELTANET_H
#define QWEN_TUI_DELTANET_H

/* out[t] = silu(sum_j in[t + j - (K-1)] * w[j]) per channel, in = window ++ x; w is [K,
 * channels] (oldest tap first); the window [K-1, channels] becomes the last K-1 of in */
void deltanet_conv(const float *x, long x_row, int rows, int channels, int kernel,
                   float *window, const float *w, float *out, long out_row, int threads);

/* q and k (rows x [k_heads, k_dim], `row` apart) L2-normed in place, q times 1/sqrt(k_dim);
 * beta = sigmoid(b), g = A * softplus(a + dt_bias), both [rows, v_heads] */
void deltanet_gates(float *q, float *k, long row, int rows, int k_heads, int k_dim,
                    const float *a, const float *b, long ab_row, int v_heads, const float *A,
                    const float *dt_bias, float *g, float *beta, int threads);

/* the gated delta rule token by token on state [v_heads, k_dim, v_dim]; out [rows, v_heads *
 * v_dim] (`out_row` apart); value head h reads key head h / (v_heads / k_heads) */
void deltanet_rule(const float *q, const float *k, long qk_row, const float *v, long v_row,
                   int rows, int k_heads, int v_heads, int k_dim, int v_dim, const float *g,
                   const float *beta, float *state, float *out, long out_row, int threads);

/* out = (w * (x / sqrt(mean(x^2) + eps))) * silu(z) per row of n */
void gated_rms_norm(const float *x, const float *z, const float *w, float *out, int rows, int n,
                    float eps, int threads);

/* out[t, r] = x[t] . w[r]: float32 x [rows, n], w [m, n] (Qwen3.5's in_proj_a and b) */
void float_matmul(const float *x, int rows, int n, const float *w, int m, float *out,
                  long out_row, int threads);

#endif
