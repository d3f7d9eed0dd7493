// The fine-tune engine's kernels (see include/CModelKitTrainingKernels.h).
//
// Two product shapes cover both weight layouts and all three products of a dense layer (forward, ∇W, ∂L/∂X):
// - broadcast: one element of A times a 16-lane row slice of B, for `B` row-major along the output columns;
// - dot: rows of A times rows of B (`A · Bᵀ`), 16 lanes along the depth, summed across lanes at the end.
// Neither copies an operand: the weights change on every step, and a packed copy per step would cost as much as the
// product at these sizes.
#include "CModelKitTrainingKernels.h"
#include "CModelKitKernels.h"

// The optimizer lanes must round like torch's unfused float32 operations: never contract a·b + c into an FMA.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define TT __attribute__((target("avx512f,fma")))
#define BR_MR 6
#define BR_NV 4

TT static inline __mmask16 lanes(int64_t valid) {
    return valid >= 16 ? (__mmask16)0xFFFF : (valid <= 0 ? (__mmask16)0 : (__mmask16)((1u << valid) - 1));
}

// MARK: - Broadcast product: tiles of up to 6 rows × 4 vectors (24 accumulators)

// `full`: every lane of the tile's vectors is a column of C (masked memory operations are slow on some CPUs).
TT __attribute__((always_inline)) static inline void broadcast_tile(
    const int mr, const int nv, const int full, int64_t k, const float *a, int64_t a_row, int64_t a_col, const float *b,
    int64_t ldb, float *c, int64_t ldc, int64_t columns, const float *bias, int relu, const float *gate,
    int64_t ldgate) {
    __m512 acc[BR_MR][BR_NV];
    __mmask16 mask[BR_NV];
    for (int v = 0; v < nv; v++) mask[v] = lanes(columns - 16 * v);
    for (int r = 0; r < mr; r++) {
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
    }
    for (int64_t p = 0; p < k; p++) {
        const float *row = b + p * ldb;
        __m512 w[BR_NV];
        for (int v = 0; v < nv; v++) {
            w[v] = v == nv - 1 && !full ? _mm512_maskz_loadu_ps(mask[v], row + 16 * v) : _mm512_loadu_ps(row + 16 * v);
        }
        const float *column = a + p * a_col;
        for (int r = 0; r < mr; r++) {
            __m512 x = _mm512_set1_ps(column[r * a_row]);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(x, w[v], acc[r][v]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    for (int r = 0; r < mr; r++) {
        for (int v = 0; v < nv; v++) {
            __m512 value = acc[r][v];
            if (bias) {
                value = _mm512_add_ps(value, full ? _mm512_loadu_ps(bias + 16 * v) : _mm512_maskz_loadu_ps(mask[v], bias + 16 * v));
            }
            // max(0, x) returns x when x is NaN: NaN stays NaN, as in PyTorch.
            if (relu) value = _mm512_max_ps(zero, value);
            if (gate) {
                const float *line = gate + r * ldgate + 16 * v;
                __m512 g = full ? _mm512_loadu_ps(line) : _mm512_maskz_loadu_ps(mask[v], line);
                value = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(g, zero, _CMP_GT_OQ), value);
            }
            if (full) {
                _mm512_storeu_ps(c + r * ldc + 16 * v, value);
            } else {
                _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask[v], value);
            }
        }
    }
}

#define BR_CALL(MR, NV, FULL) \
    broadcast_tile(MR, NV, FULL, k, a, a_row, a_col, b, ldb, c, ldc, columns, bias, relu, gate, ldgate)
#define BR_CASE(MR)                                                           \
    case MR:                                                                  \
        switch (nv) {                                                         \
            case 1: if (full) BR_CALL(MR, 1, 1); else BR_CALL(MR, 1, 0); break; \
            case 2: if (full) BR_CALL(MR, 2, 1); else BR_CALL(MR, 2, 0); break; \
            case 3: if (full) BR_CALL(MR, 3, 1); else BR_CALL(MR, 3, 0); break; \
            default: if (full) BR_CALL(MR, 4, 1); else BR_CALL(MR, 4, 0); break; \
        }                                                                     \
        break;

TT static void broadcast_dispatch(int mr, int nv, int64_t k, const float *a, int64_t a_row, int64_t a_col,
                                  const float *b, int64_t ldb, float *c, int64_t ldc, int64_t columns,
                                  const float *bias, int relu, const float *gate, int64_t ldgate) {
    int full = columns == 16 * nv;
    switch (mr) {
        BR_CASE(1) BR_CASE(2) BR_CASE(3) BR_CASE(4) BR_CASE(5) BR_CASE(6)
        default: break;
    }
}

TT static void broadcast512(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_row, int64_t a_col,
                            const float *b, int64_t ldb, float *c, int64_t ldc, const float *bias, int relu,
                            const float *gate, int64_t ldgate) {
    // Row blocks of nearly equal height (50 rows: 5 × 6 + 4 × 5, not 8 × 6 + 2) keep every tile busy.
    int64_t blocks = (m + BR_MR - 1) / BR_MR;
    for (int64_t j = 0; j < n; j += 16 * BR_NV) {
        int64_t columns = n - j < 16 * BR_NV ? n - j : 16 * BR_NV;
        int nv = (int)((columns + 15) / 16);
        for (int64_t index = 0; index < blocks; index++) {
            int64_t r0 = m / blocks * index + (index < m % blocks ? index : m % blocks);
            int64_t r1 = m / blocks * (index + 1) + (index + 1 < m % blocks ? index + 1 : m % blocks);
            broadcast_dispatch((int)(r1 - r0), nv, k, a + r0 * a_row, a_row, a_col, b + j, ldb, c + r0 * ldc + j, ldc,
                               columns, bias ? bias + j : NULL, relu, gate ? gate + r0 * ldgate + j : NULL, ldgate);
        }
    }
}

// MARK: - Dot product: tiles of 4 rows × 4 columns (16 accumulators, summed across lanes together)

// Sums each of 16 vectors across its lanes: lane 4q + s of the result is the sum of x[q + 4s].
TT static inline __m512 reduce16(const __m512 x[16]) {
    __m512 half[8], quarter[4], eighth[2];
    for (int i = 0; i < 8; i++) {
        __m512 low = _mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0));
        __m512 high = _mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2));
        half[i] = _mm512_add_ps(low, high);  // quads 0-1: x[2i], quads 2-3: x[2i+1]
    }
    for (int i = 0; i < 4; i++) {
        __m512 even = _mm512_shuffle_f32x4(half[2 * i], half[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0));
        __m512 odd = _mm512_shuffle_f32x4(half[2 * i], half[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1));
        quarter[i] = _mm512_add_ps(even, odd);  // quad q: x[4i + q]
    }
    for (int i = 0; i < 2; i++) {
        __m512 low = _mm512_shuffle_ps(quarter[2 * i], quarter[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0));
        __m512 high = _mm512_shuffle_ps(quarter[2 * i], quarter[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2));
        eighth[i] = _mm512_add_ps(low, high);  // quad q: x[8i + q] (2 lanes), x[8i + 4 + q] (2 lanes)
    }
    __m512 even = _mm512_shuffle_ps(eighth[0], eighth[1], _MM_SHUFFLE(2, 0, 2, 0));
    __m512 odd = _mm512_shuffle_ps(eighth[0], eighth[1], _MM_SHUFFLE(3, 1, 3, 1));
    return _mm512_add_ps(even, odd);  // quad q: x[q], x[q + 4], x[q + 8], x[q + 12]
}

TT static void dot_tile(int64_t rows, int64_t columns, int64_t k, const float *a, int64_t lda, const float *b,
                        int64_t ldb, float *c, int64_t ldc, const float *bias, int relu, const float *gate,
                        int64_t ldgate) {
    // Rows and columns past the edge repeat the last one; their sums are computed and not stored.
    const float *ar[4], *br[4];
    for (int i = 0; i < 4; i++) {
        ar[i] = a + (i < rows ? i : rows - 1) * lda;
        br[i] = b + (i < columns ? i : columns - 1) * ldb;
    }
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 x0 = _mm512_loadu_ps(ar[0] + p), x1 = _mm512_loadu_ps(ar[1] + p);
        __m512 x2 = _mm512_loadu_ps(ar[2] + p), x3 = _mm512_loadu_ps(ar[3] + p);
        for (int j = 0; j < 4; j++) {
            __m512 w = _mm512_loadu_ps(br[j] + p);
            // acc[r + 4j] = row r · column j (the order reduce16 turns into lane 4r + j).
            acc[0 + 4 * j] = _mm512_fmadd_ps(x0, w, acc[0 + 4 * j]);
            acc[1 + 4 * j] = _mm512_fmadd_ps(x1, w, acc[1 + 4 * j]);
            acc[2 + 4 * j] = _mm512_fmadd_ps(x2, w, acc[2 + 4 * j]);
            acc[3 + 4 * j] = _mm512_fmadd_ps(x3, w, acc[3 + 4 * j]);
        }
    }
    if (p < k) {
        __mmask16 tail = lanes(k - p);
        __m512 x0 = _mm512_maskz_loadu_ps(tail, ar[0] + p), x1 = _mm512_maskz_loadu_ps(tail, ar[1] + p);
        __m512 x2 = _mm512_maskz_loadu_ps(tail, ar[2] + p), x3 = _mm512_maskz_loadu_ps(tail, ar[3] + p);
        for (int j = 0; j < 4; j++) {
            __m512 w = _mm512_maskz_loadu_ps(tail, br[j] + p);
            acc[0 + 4 * j] = _mm512_fmadd_ps(x0, w, acc[0 + 4 * j]);
            acc[1 + 4 * j] = _mm512_fmadd_ps(x1, w, acc[1 + 4 * j]);
            acc[2 + 4 * j] = _mm512_fmadd_ps(x2, w, acc[2 + 4 * j]);
            acc[3 + 4 * j] = _mm512_fmadd_ps(x3, w, acc[3 + 4 * j]);
        }
    }
    __m512 sums = reduce16(acc);  // lane 4r + j = row r, column j
    __mmask16 valid = lanes(columns);
    if (bias) {
        __m512 quad = _mm512_maskz_loadu_ps(valid & 0xF, bias);
        sums = _mm512_add_ps(sums, _mm512_shuffle_f32x4(quad, quad, 0));
    }
    if (relu) sums = _mm512_max_ps(_mm512_setzero_ps(), sums);
    // Plain stores of whole quads; no masked memory access near a NULL gate (a masked-off load from an unmapped
    // address costs a micro-code assist on some CPUs, and compilers turn guarded scalar loads into masked ones).
    float values[16];
    _mm512_storeu_ps(values, sums);
    if (!gate && columns == 4) {
        for (int64_t r = 0; r < rows; r++) _mm_storeu_ps(c + r * ldc, _mm_loadu_ps(values + 4 * r));
        return;
    }
    if (gate) {
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t j = 0; j < columns; j++) c[r * ldc + j] = gate[r * ldgate + j] > 0 ? values[4 * r + j] : 0;
        }
    } else {
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t j = 0; j < columns; j++) c[r * ldc + j] = values[4 * r + j];
        }
    }
}

TT static void dot512(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                      float *c, int64_t ldc, const float *bias, int relu, const float *gate, int64_t ldgate) {
    // Blocks of up to 16 rows of A (25 KiB at depth 400) stay in L1 while the rows of B (the weight) stream past
    // four at a time: the weight is read from L2 once per block, not A once per four weight rows.
    int64_t block_rows = 16;
    for (int64_t i0 = 0; i0 < m; i0 += block_rows) {
        int64_t i1 = i0 + block_rows < m ? i0 + block_rows : m;
        for (int64_t j = 0; j < n; j += 4) {
            int64_t columns = n - j < 4 ? n - j : 4;
            for (int64_t i = i0; i < i1; i += 4) {
                int64_t rows = i1 - i < 4 ? i1 - i : 4;
                dot_tile(rows, columns, k, a + i * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc,
                         bias ? bias + j : NULL, relu, gate ? gate + i * ldgate + j : NULL, ldgate);
            }
        }
    }
}

// MARK: - Element-wise

TT static void column_sums512(int64_t rows, int64_t columns, const float *x, int64_t ldx, float *sums) {
    int64_t j = 0;
    for (; j + 16 <= columns; j += 16) {
        __m512 total = _mm512_loadu_ps(x + j);
        for (int64_t i = 1; i < rows; i++) total = _mm512_add_ps(total, _mm512_loadu_ps(x + i * ldx + j));
        _mm512_storeu_ps(sums + j, total);
    }
    if (j < columns) {
        __mmask16 mask = lanes(columns - j);
        __m512 total = _mm512_maskz_loadu_ps(mask, x + j);
        for (int64_t i = 1; i < rows; i++) total = _mm512_add_ps(total, _mm512_maskz_loadu_ps(mask, x + i * ldx + j));
        _mm512_mask_storeu_ps(sums + j, mask, total);
    }
}

TT __attribute__((always_inline)) static inline void sgd_lanes(
    int64_t i, __mmask16 mask, int full, float *p, const float *g, float *buffer, int first, float decay,
    __m512 rate, __m512 wd, __m512 mu, __m512 dampened, int nesterov) {
    __m512 pv = full ? _mm512_loadu_ps(p + i) : _mm512_maskz_loadu_ps(mask, p + i);
    __m512 d = full ? _mm512_loadu_ps(g + i) : _mm512_maskz_loadu_ps(mask, g + i);
    if (decay != 0) d = _mm512_add_ps(d, _mm512_mul_ps(wd, pv));
    if (buffer) {
        __m512 old = full ? _mm512_loadu_ps(buffer + i) : _mm512_maskz_loadu_ps(mask, buffer + i);
        __m512 b = first ? d : _mm512_add_ps(_mm512_mul_ps(old, mu), _mm512_mul_ps(dampened, d));
        if (full) _mm512_storeu_ps(buffer + i, b); else _mm512_mask_storeu_ps(buffer + i, mask, b);
        d = nesterov ? _mm512_add_ps(d, _mm512_mul_ps(mu, b)) : b;
    }
    pv = _mm512_add_ps(pv, _mm512_mul_ps(rate, d));
    if (full) _mm512_storeu_ps(p + i, pv); else _mm512_mask_storeu_ps(p + i, mask, pv);
}

// Whole vectors unmasked (masked memory operations are slower on some CPUs), the tail masked.
TT static void sgd512(int64_t count, float *p, const float *g, float *buffer, int first, float decay, float momentum,
                      float keep, int nesterov, float learning_rate) {
    const __m512 rate = _mm512_set1_ps(-learning_rate), wd = _mm512_set1_ps(decay);
    const __m512 mu = _mm512_set1_ps(momentum), dampened = _mm512_set1_ps(keep);
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) sgd_lanes(i, 0xFFFF, 1, p, g, buffer, first, decay, rate, wd, mu, dampened, nesterov);
    if (i < count) sgd_lanes(i, lanes(count - i), 0, p, g, buffer, first, decay, rate, wd, mu, dampened, nesterov);
}

TT __attribute__((always_inline)) static inline void adam_lanes(
    int64_t i, __mmask16 mask, int full, float *p, const float *g, float *m, float *v, int use_shrink, __m512 s,
    float decay, __m512 wd, __m512 w1, __m512 b2, __m512 w2, __m512 c2, __m512 e, __m512 step) {
    __m512 pv = full ? _mm512_loadu_ps(p + i) : _mm512_maskz_loadu_ps(mask, p + i);
    if (use_shrink) pv = _mm512_mul_ps(pv, s);
    __m512 d = full ? _mm512_loadu_ps(g + i) : _mm512_maskz_loadu_ps(mask, g + i);
    if (decay != 0) d = _mm512_add_ps(d, _mm512_mul_ps(wd, pv));
    __m512 mv = full ? _mm512_loadu_ps(m + i) : _mm512_maskz_loadu_ps(mask, m + i);
    mv = _mm512_add_ps(mv, _mm512_mul_ps(w1, _mm512_sub_ps(d, mv)));
    __m512 vv = full ? _mm512_loadu_ps(v + i) : _mm512_maskz_loadu_ps(mask, v + i);
    vv = _mm512_add_ps(_mm512_mul_ps(vv, b2), _mm512_mul_ps(_mm512_mul_ps(w2, d), d));
    // Masked-off lanes divide 0 by eps, never by 0.
    __m512 denominator = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vv), c2), e);
    pv = _mm512_add_ps(pv, _mm512_mul_ps(step, _mm512_div_ps(mv, denominator)));
    if (full) {
        _mm512_storeu_ps(m + i, mv);
        _mm512_storeu_ps(v + i, vv);
        _mm512_storeu_ps(p + i, pv);
    } else {
        _mm512_mask_storeu_ps(m + i, mask, mv);
        _mm512_mask_storeu_ps(v + i, mask, vv);
        _mm512_mask_storeu_ps(p + i, mask, pv);
    }
}

TT static void adam512(int64_t count, float *p, const float *g, float *m, float *v, int use_shrink, float shrink,
                       float decay, float weight1, float beta2, float weight2, float correction2_root, float eps,
                       float step_size) {
    const __m512 s = _mm512_set1_ps(shrink), wd = _mm512_set1_ps(decay), w1 = _mm512_set1_ps(weight1);
    const __m512 b2 = _mm512_set1_ps(beta2), w2 = _mm512_set1_ps(weight2), c2 = _mm512_set1_ps(correction2_root);
    const __m512 e = _mm512_set1_ps(eps), step = _mm512_set1_ps(-step_size);
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) adam_lanes(i, 0xFFFF, 1, p, g, m, v, use_shrink, s, decay, wd, w1, b2, w2, c2, e, step);
    if (i < count) adam_lanes(i, lanes(count - i), 0, p, g, m, v, use_shrink, s, decay, wd, w1, b2, w2, c2, e, step);
}

#define MK_TRAIN_X86 1
#endif

void mk_train_transpose(int64_t rows, int64_t columns, const float *source, int64_t lds, float *destination,
                        int64_t ldd) {
    // Blocks of 16 × 16 keep both the rows read and the rows written in L1.
    for (int64_t i0 = 0; i0 < rows; i0 += 16) {
        int64_t i1 = i0 + 16 < rows ? i0 + 16 : rows;
        for (int64_t j0 = 0; j0 < columns; j0 += 16) {
            int64_t j1 = j0 + 16 < columns ? j0 + 16 : columns;
            for (int64_t i = i0; i < i1; i++) {
                for (int64_t j = j0; j < j1; j++) destination[j * ldd + i] = source[i * lds + j];
            }
        }
    }
}

// The entry points: callers check `mk_best_level() == MK_LEVEL_AVX512` first; elsewhere these do nothing.

void mk_train_gemm_broadcast(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_row, int64_t a_col,
                             const float *b, int64_t ldb, float *c, int64_t ldc, const float *bias, int relu,
                             const float *gate, int64_t ldgate) {
#ifdef MK_TRAIN_X86
    if (m > 0 && n > 0 && mk_best_level() >= MK_LEVEL_AVX512) {
        broadcast512(m, n, k, a, a_row, a_col, b, ldb, c, ldc, bias, relu, gate, ldgate);
    }
#endif
}

void mk_train_gemm_dot(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                       float *c, int64_t ldc, const float *bias, int relu, const float *gate, int64_t ldgate) {
#ifdef MK_TRAIN_X86
    if (m > 0 && n > 0 && mk_best_level() >= MK_LEVEL_AVX512) {
        dot512(m, n, k, a, lda, b, ldb, c, ldc, bias, relu, gate, ldgate);
    }
#endif
}

void mk_train_column_sums(int64_t rows, int64_t columns, const float *x, int64_t ldx, float *sums) {
#ifdef MK_TRAIN_X86
    if (rows > 0 && columns > 0 && mk_best_level() >= MK_LEVEL_AVX512) column_sums512(rows, columns, x, ldx, sums);
#endif
}

void mk_train_sgd(int64_t count, float *p, const float *g, float *buffer, int first, float decay, float momentum,
                  float keep, int nesterov, float learning_rate) {
#ifdef MK_TRAIN_X86
    if (count > 0 && mk_best_level() >= MK_LEVEL_AVX512) {
        sgd512(count, p, g, buffer, first, decay, momentum, keep, nesterov, learning_rate);
    }
#endif
}

void mk_train_adam(int64_t count, float *p, const float *g, float *m, float *v, int use_shrink, float shrink,
                   float decay, float weight1, float beta2, float weight2, float correction2_root, float eps,
                   float step_size) {
#ifdef MK_TRAIN_X86
    if (count > 0 && mk_best_level() >= MK_LEVEL_AVX512) {
        adam512(count, p, g, m, v, use_shrink, shrink, decay, weight1, beta2, weight2, correction2_root, eps,
                step_size);
    }
#endif
}
