// Matrix products and optimizer updates of the fine-tune engine, on unpacked row-major operands.
//
// Why unpacked: training changes every weight on every step, so a packed copy would be made again per step; at the
// sizes training runs (batch 50, layers of a few hundred) that copy and BLAS's own packing cost as much as the
// product. These kernels read the stored operands in place. They need AVX-512F (`mk_best_level() == MK_LEVEL_AVX512`);
// callers use BLAS elsewhere.
#ifndef CMODELKIT_TRAINING_KERNELS_H
#define CMODELKIT_TRAINING_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// `C[m, n] = epilogue(Σ_p A(i, p) · B[p, j])` where `A(i, p) = a[i·a_row + p·a_col]` (so either orientation of a
/// stored matrix) and `B` is row-major with row stride `ldb`. Then, in this order: `+ bias[j]` (when `bias` is not
/// NULL), `max(·, 0)` (when `relu`), and zero where `gate[i·ldgate + j] > 0` fails (when `gate` is not NULL: the ReLU
/// backward rule, `gate` being the ReLU's output). Only AVX-512 CPUs.
void mk_train_gemm_broadcast(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_row, int64_t a_col,
                             const float *b, int64_t ldb, float *c, int64_t ldc, const float *bias, int relu,
                             const float *gate, int64_t ldgate);

/// `C[m, n] = epilogue(Σ_p A[i·lda + p] · B[j·ldb + p])` (`A · Bᵀ`, both row-major: dot products of rows), with the
/// epilogue of `mk_train_gemm_broadcast`. Only AVX-512 CPUs.
void mk_train_gemm_dot(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                       float *c, int64_t ldc, const float *bias, int relu, const float *gate, int64_t ldgate);

/// `destination[j·ldd + i] = source[i·lds + j]` for `i < rows`, `j < columns` (portable C).
void mk_train_transpose(int64_t rows, int64_t columns, const float *source, int64_t lds, float *destination,
                        int64_t ldd);

/// `sums[j] = Σ_i x[i·ldx + j]` for `j < columns`, rows added in order (row 0 first). Only AVX-512 CPUs.
void mk_train_column_sums(int64_t rows, int64_t columns, const float *x, int64_t ldx, float *sums);

/// PyTorch's SGD step on `count` elements (the lanes compute the scalar formula, unfused, in torch's order):
/// `d = g (+ decay·p)`; with `buffer`: `b = first ? d : b·momentum + keep·d`, `d = nesterov ? d + momentum·b : b`;
/// `p = p + (−lr)·d`. Only AVX-512 CPUs.
void mk_train_sgd(int64_t count, float *p, const float *g, float *buffer, int first, float decay, float momentum,
                  float keep, int nesterov, float learning_rate);

/// PyTorch's single-tensor Adam/AdamW step on `count` elements, unfused, in torch's order: `p = p·shrink` (when
/// `use_shrink`), `d = g (+ decay·p)`, `m = m + w1·(d − m)`, `v = v·β2 + (w2·d)·d`,
/// `p = p + (−step)·(m / (√v / c2 + eps))`. Only AVX-512 CPUs.
void mk_train_adam(int64_t count, float *p, const float *g, float *m, float *v, int use_shrink, float shrink,
                   float decay, float weight1, float beta2, float weight2, float correction2_root, float eps,
                   float step_size);

#ifdef __cplusplus
}
#endif

#endif
