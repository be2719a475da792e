/* Choosing the next token from a vocabulary's logits (sample.c); module.c binds it. */
#ifndef QWEN_TUI_SAMPLE_H
#define QWEN_TUI_SAMPLE_H

#include <stdint.h>

/* what qk_sample returns instead of a token id */
#define QK_SAMPLE_NO_MEMORY (-1)
#define QK_SAMPLE_NAN (-2)        /* a logit is NaN (temperature > 0; greedy takes it, as argmax) */
#define QK_SAMPLE_NOT_FINITE (-3) /* the largest logit is +inf or -inf: no distribution */
#define QK_SAMPLE_BAD_ID (-4)     /* a seen id outside [0, n) */

/* The next token from n float32 logits (read only): the repetition penalty on the tokens in
 * seen (penalty 1: none), temperature (0: greedy), top_k (0: all), top_p (1: none), and the
 * draw at u in [0, 1). A token id in [0, n), or one of the codes above. */
long qk_sample(const float *logits, int n, const int64_t *seen, long nseen, float penalty,
               float temperature, int top_k, double top_p, double u);

#endif
