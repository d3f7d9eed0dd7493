// Dense-layer matrix products over weights packed once into 16-column panels.
//
// Why a C target: Swift compiles for the x86-64 baseline (SSE2) unless given unsafe flags, which packages used as
// dependencies may not carry. C functions can carry their own instruction sets (`target("avx512f,fma")`) and be
// chosen at run time, so the package builds everywhere and still uses AVX-512/AVX2 where the CPU has them.
#ifndef CMODELKIT_KERNELS_H
#define CMODELKIT_KERNELS_H

#include <stdint.h>

#include "CModelKitTrainingKernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Columns per packed panel.
#define MK_PANEL_WIDTH 16

/// Instruction-set levels of the kernels, best last.
typedef enum {
    MK_LEVEL_PORTABLE = 0,  ///< Plain C (whatever the compiler vectorizes for the baseline).
    MK_LEVEL_AVX2 = 1,      ///< AVX2 + FMA, 8 lanes.
    MK_LEVEL_AVX512 = 2,    ///< AVX-512F, 16 lanes.
} mk_level;

/// Element-wise functions the product applies to each output block, after the bias, while it is in registers.
typedef enum {
    MK_EPILOGUE_NONE = 0,
    MK_EPILOGUE_RELU = 1,        ///< max(x, 0); NaN stays NaN.
    MK_EPILOGUE_LEAKY_RELU = 2,  ///< x < 0 ? alpha·x : x.
} mk_epilogue;

/// The best level this CPU and operating system support (0 on processors other than x86-64).
int mk_best_level(void);

/// Floats in the packed form of a weight with `inputs` rows of the product and `outputs` columns.
int64_t mk_packed_count(int64_t inputs, int64_t outputs);

/// Packs a weight stored `[inputs, outputs]` (`out_in == 0`) or `[outputs, inputs]` (`out_in != 0`), row-major,
/// into panels `[outputs/16][inputs][16]` (the last panel zero-padded). `packed` holds `mk_packed_count` floats,
/// 64-byte aligned.
void mk_pack(const float *weights, int out_in, int64_t inputs, int64_t outputs, float *packed);

/// C[0..<rows, columns] = epilogue(A[0..<rows, 0..<depth] · W[:, columns] + bias[columns]) for the columns of
/// panels `panel_begin..<panel_end` (clipped to `outputs`). `c` points at row 0, column 0 of the output; `bias`
/// (may be NULL) at column 0. Only those columns of C are written. `level` must not exceed `mk_best_level()`.
void mk_gemm_packed(int level, int64_t rows, int64_t depth, const float *a, int64_t lda, const float *packed,
                    int64_t outputs, int64_t panel_begin, int64_t panel_end, const float *bias, int epilogue,
                    float alpha, float *c, int64_t ldc);

#ifdef __cplusplus
}
#endif

#endif
