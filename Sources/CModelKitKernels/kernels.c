// The packed-panel matrix product (see include/CModelKitKernels.h).
//
// Layout: the weight is packed once into panels of 16 output columns, `[panel][k][16]`, so a micro-kernel streams
// one or two contiguous panels while the input rows are read in place (no per-call copy of either operand: for the
// small batches this engine serves, copying the input would cost a tenth of the product).
//
// Blocking: depth is cut into blocks of at most KC_MAX so that the panels' slice for one block (KC_MAX × 32 floats)
// stays in L1 while every row block of the input passes over it; the input rows of one depth block stay in L2.
// Partial sums of a depth block are added to C; bias and activation are applied with the last block, in registers.
#include "CModelKitKernels.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define MK_X86 1
#include <immintrin.h>
#include <cpuid.h>
#endif

#define KC_MAX 256
// Rows per packed chunk of A: 288 × 256 floats (288 KiB) stay in L2 while every panel of the call passes; a
// batch of 256 rows is one chunk, so a weight too large for L3 is read from memory once per call, not per chunk.
#define MC_MAX 288

int64_t mk_packed_count(int64_t inputs, int64_t outputs) {
    return (outputs + MK_PANEL_WIDTH - 1) / MK_PANEL_WIDTH * MK_PANEL_WIDTH * inputs;
}

void mk_pack(const float *weights, int out_in, int64_t inputs, int64_t outputs, float *packed) {
    int64_t panels = (outputs + MK_PANEL_WIDTH - 1) / MK_PANEL_WIDTH;
    for (int64_t panel = 0; panel < panels; panel++) {
        float *destination = packed + panel * inputs * MK_PANEL_WIDTH;
        int64_t first = panel * MK_PANEL_WIDTH;
        int64_t width = outputs - first < MK_PANEL_WIDTH ? outputs - first : MK_PANEL_WIDTH;
        for (int64_t k = 0; k < inputs; k++) {
            float *row = destination + k * MK_PANEL_WIDTH;
            for (int64_t lane = 0; lane < MK_PANEL_WIDTH; lane++) {
                float value = 0;
                if (lane < width) {
                    value = out_in ? weights[(first + lane) * inputs + k] : weights[k * outputs + first + lane];
                }
                row[lane] = value;
            }
        }
    }
}

// Splits `count` into `blocks` nearly equal parts: part `index` starts at the returned offset.
static inline int64_t part_start(int64_t count, int64_t blocks, int64_t index) {
    return count / blocks * index + (index < count % blocks ? index : count % blocks);
}

static inline float apply_epilogue(float value, int epilogue, float alpha) {
    if (epilogue == MK_EPILOGUE_RELU) return value < 0 ? 0 : value;
    if (epilogue == MK_EPILOGUE_LEAKY_RELU) return value < 0 ? value * alpha : value;
    return value;
}

// MARK: - Portable

// One row × one panel; the compiler vectorizes the lane loops for the baseline instruction set.
static void tile_portable(int64_t kc, const float *a, const float *b, float *c, int accumulate, int finish,
                          const float *bias, int epilogue, float alpha, int columns) {
    float sums[MK_PANEL_WIDTH] = {0};
    for (int64_t k = 0; k < kc; k++) {
        float x = a[k];
        const float *w = b + k * MK_PANEL_WIDTH;
        for (int lane = 0; lane < MK_PANEL_WIDTH; lane++) sums[lane] += x * w[lane];
    }
    for (int lane = 0; lane < columns; lane++) {
        float value = sums[lane];
        if (accumulate) value += c[lane];
        if (finish) {
            if (bias) value += bias[lane];
            value = apply_epilogue(value, epilogue, alpha);
        }
        c[lane] = value;
    }
}

static void gemm_portable(int64_t rows, int64_t depth, const float *a, int64_t lda, const float *packed,
                          int64_t outputs, int64_t panel_begin, int64_t panel_end, const float *bias, int epilogue,
                          float alpha, float *c, int64_t ldc) {
    int64_t depth_blocks = depth > 0 ? (depth + KC_MAX - 1) / KC_MAX : 1;
    for (int64_t block = 0; block < depth_blocks; block++) {
        int64_t k0 = part_start(depth, depth_blocks, block), k1 = part_start(depth, depth_blocks, block + 1);
        for (int64_t panel = panel_begin; panel < panel_end; panel++) {
            int64_t column = panel * MK_PANEL_WIDTH;
            int columns = (int)(outputs - column < MK_PANEL_WIDTH ? outputs - column : MK_PANEL_WIDTH);
            const float *b = packed + panel * depth * MK_PANEL_WIDTH + k0 * MK_PANEL_WIDTH;
            for (int64_t row = 0; row < rows; row++) {
                tile_portable(k1 - k0, a + row * lda + k0, b, c + row * ldc + column, block > 0,
                              block == depth_blocks - 1, bias ? bias + column : NULL, epilogue, alpha, columns);
            }
        }
    }
}

#ifdef MK_X86

// MARK: - Feature detection

static int64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((int64_t)edx << 32) | eax;
}

static int detect_level(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return MK_LEVEL_PORTABLE;
    int has_fma = (ecx >> 12) & 1, has_osxsave = (ecx >> 27) & 1, has_avx = (ecx >> 28) & 1;
    if (!has_osxsave || !has_avx || !has_fma) return MK_LEVEL_PORTABLE;
    int64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return MK_LEVEL_PORTABLE;  // the OS saves XMM and YMM state
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return MK_LEVEL_PORTABLE;
    int has_avx2 = (ebx >> 5) & 1, has_avx512f = (ebx >> 16) & 1;
    if (has_avx512f && (xcr0 & 0xE6) == 0xE6) return MK_LEVEL_AVX512;  // and opmask, ZMM state
    return has_avx2 ? MK_LEVEL_AVX2 : MK_LEVEL_PORTABLE;
}

int mk_best_level(void) {
    // Threads racing here all compute and store the same value; the atomics keep that race defined.
    static int level = -1;
    int known = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (known < 0) {
        known = detect_level();
        __atomic_store_n(&level, known, __ATOMIC_RELAXED);
    }
    return known;
}

#define PACK_A_MIN_PANELS 16

// A thread's buffer for packed rows of A (MC_MAX × KC_MAX floats), made on its first need and kept: the engine's
// threads are long-lived, and a per-call allocation of this size would go through mmap and page faults.
static float *scratch_buffer(void) {
    static _Thread_local float *buffer = NULL;
    if (!buffer) buffer = aligned_alloc(64, (size_t)MC_MAX * KC_MAX * sizeof(float));
    return buffer;
}

// MARK: - AVX-512: tiles of up to 12 rows × 2 panels (24 accumulators of the 32 registers)

#define T512 __attribute__((target("avx512f,fma")))
#define MR512 12

T512 __attribute__((always_inline)) static inline void tile512(
    const int mr, const int np, const int packed_a, int64_t kc, const float *a, int64_t lda, const float *b,
    int64_t panel_stride, float *c, int64_t ldc, int accumulate, int finish, const float *bias, int epilogue,
    float alpha, int columns) {
    __m512 acc[MR512][2];
    for (int r = 0; r < mr; r++) {
        for (int p = 0; p < np; p++) acc[r][p] = _mm512_setzero_ps();
    }
    const float *b1 = b + panel_stride;
    for (int64_t k = 0; k < kc; k++) {
        __m512 w0 = _mm512_load_ps(b + k * MK_PANEL_WIDTH);
        __m512 w1 = np > 1 ? _mm512_load_ps(b1 + k * MK_PANEL_WIDTH) : w0;
        for (int r = 0; r < mr; r++) {
            __m512 x = _mm512_set1_ps(packed_a ? a[k * mr + r] : a[r * lda + k]);
            acc[r][0] = _mm512_fmadd_ps(x, w0, acc[r][0]);
            if (np > 1) acc[r][1] = _mm512_fmadd_ps(x, w1, acc[r][1]);
        }
    }
    __mmask16 masks[2];
    for (int p = 0; p < np; p++) {
        int valid = columns - p * MK_PANEL_WIDTH;
        masks[p] = valid >= MK_PANEL_WIDTH ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
    }
    __m512 bias_vectors[2];
    for (int p = 0; p < np; p++) {
        bias_vectors[p] = finish && bias ? _mm512_maskz_loadu_ps(masks[p], bias + p * MK_PANEL_WIDTH) : _mm512_setzero_ps();
    }
    const __m512 zero = _mm512_setzero_ps(), slope = _mm512_set1_ps(alpha);
    for (int r = 0; r < mr; r++) {
        for (int p = 0; p < np; p++) {
            float *out = c + r * ldc + p * MK_PANEL_WIDTH;
            __m512 value = acc[r][p];
            if (accumulate) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(masks[p], out));
            if (finish) {
                value = _mm512_add_ps(value, bias_vectors[p]);
                // max(0, x) returns its second operand when either is NaN: NaN stays NaN, as in PyTorch.
                if (epilogue == MK_EPILOGUE_RELU) value = _mm512_max_ps(zero, value);
                if (epilogue == MK_EPILOGUE_LEAKY_RELU) {
                    value = _mm512_mask_mul_ps(value, _mm512_cmp_ps_mask(value, zero, _CMP_LT_OQ), value, slope);
                }
            }
            _mm512_mask_storeu_ps(out, masks[p], value);
        }
    }
}

#define TILE512_CALL(MR, NP, PACKED) \
    tile512(MR, NP, PACKED, kc, a, lda, b, stride, c, ldc, accumulate, finish, bias, epilogue, alpha, columns)
#define TILE512_CASE(MR)                                                    \
    case MR:                                                                \
        if (packed_a) {                                                     \
            if (np == 2) TILE512_CALL(MR, 2, 1); else TILE512_CALL(MR, 1, 1); \
        } else {                                                            \
            if (np == 2) TILE512_CALL(MR, 2, 0); else TILE512_CALL(MR, 1, 0); \
        }                                                                   \
        break;

T512 static void dispatch512(int mr, int np, int packed_a, int64_t kc, const float *a, int64_t lda, const float *b, int64_t stride,
                             float *c, int64_t ldc, int accumulate, int finish, const float *bias, int epilogue,
                             float alpha, int columns) {
    switch (mr) {
        TILE512_CASE(1) TILE512_CASE(2) TILE512_CASE(3) TILE512_CASE(4) TILE512_CASE(5) TILE512_CASE(6)
        TILE512_CASE(7) TILE512_CASE(8) TILE512_CASE(9) TILE512_CASE(10) TILE512_CASE(11) TILE512_CASE(12)
        default: break;
    }
}

// Copies rows r0..<r1, depth k0..<k1 of A into row blocks `[k][mr]` (the blocks `gemm512` will use), so that a
// tile's inputs are contiguous. Needed for wide layers: rows 4096 floats apart map to the same cache sets, and
// a block of them evicts itself from L1 and L2 (measured: 18 GFLOPS instead of 200 at depth 4096).
T512 static void pack_rows512(const float *a, int64_t lda, int64_t r0, int64_t r1, int64_t k0, int64_t k1,
                              int64_t row_blocks, float *buffer) {
    int64_t rows = r1 - r0, kc = k1 - k0;
    for (int64_t index = 0; index < row_blocks; index++) {
        int64_t b0 = part_start(rows, row_blocks, index), b1 = part_start(rows, row_blocks, index + 1);
        int64_t mr = b1 - b0;
        float *destination = buffer + b0 * kc;
        for (int64_t r = 0; r < mr; r++) {
            const float *source = a + (r0 + b0 + r) * lda + k0;
            for (int64_t k = 0; k < kc; k++) destination[k * mr + r] = source[k];
        }
    }
}

T512 static void gemm512(int64_t rows, int64_t depth, const float *a, int64_t lda, const float *packed,
                         int64_t outputs, int64_t panel_begin, int64_t panel_end, const float *bias, int epilogue,
                         float alpha, float *c, int64_t ldc, float *buffer) {
    int64_t depth_blocks = depth > 0 ? (depth + KC_MAX - 1) / KC_MAX : 1;
    int64_t chunks = buffer ? (rows + MC_MAX - 1) / MC_MAX : 1;
    int64_t stride = depth * MK_PANEL_WIDTH;
    for (int64_t block = 0; block < depth_blocks; block++) {
        int64_t k0 = part_start(depth, depth_blocks, block), k1 = part_start(depth, depth_blocks, block + 1);
        for (int64_t chunk = 0; chunk < chunks; chunk++) {
            int64_t c0 = part_start(rows, chunks, chunk), c1 = part_start(rows, chunks, chunk + 1);
            // Row blocks of nearly equal height (50 rows: 5 × 10, not 4 × 12 + 2) keep every tile wide.
            int64_t row_blocks = (c1 - c0 + MR512 - 1) / MR512;
            if (buffer) pack_rows512(a, lda, c0, c1, k0, k1, row_blocks, buffer);
            for (int64_t panel = panel_begin; panel < panel_end; panel += 2) {
                int np = panel_end - panel >= 2 ? 2 : 1;
                int64_t column = panel * MK_PANEL_WIDTH;
                int64_t end = column + np * MK_PANEL_WIDTH < outputs ? column + np * MK_PANEL_WIDTH : outputs;
                const float *b = packed + panel * stride + k0 * MK_PANEL_WIDTH;
                // The next pair of panels' slice (from memory for weights beyond L3), fetched into L2 a share per row
                // block, while this pair's tiles compute.
                const float *next = panel + 2 < panel_end ? b + 2 * stride : NULL;
                int64_t next_lines = (k1 - k0) * MK_PANEL_WIDTH * sizeof(float) / 64;
                int64_t lines_per_block = (next_lines + row_blocks - 1) / row_blocks;
                for (int64_t index = 0; index < row_blocks; index++) {
                    if (next) {
                        for (int64_t line = index * lines_per_block; line < (index + 1) * lines_per_block && line < next_lines; line++) {
                            _mm_prefetch((const char *)next + line * 64, _MM_HINT_T1);
                            if (panel + 3 < panel_end) _mm_prefetch((const char *)(next + stride) + line * 64, _MM_HINT_T1);
                        }
                    }
                    int64_t r0 = part_start(c1 - c0, row_blocks, index), r1 = part_start(c1 - c0, row_blocks, index + 1);
                    const float *tile_a = buffer ? buffer + r0 * (k1 - k0) : a + (c0 + r0) * lda + k0;
                    dispatch512((int)(r1 - r0), np, buffer != NULL, k1 - k0, tile_a, lda, b, stride,
                                c + (c0 + r0) * ldc + column, ldc, block > 0, block == depth_blocks - 1,
                                bias ? bias + column : NULL, epilogue, alpha, (int)(end - column));
                }
            }
        }
    }
}

// MARK: - AVX2: tiles of up to 6 rows × 1 panel (12 accumulators of the 16 registers)

#define T256 __attribute__((target("avx2,fma")))
#define MR256 6

T256 static inline __m256i lane_mask256(int valid) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), lanes);
}

T256 __attribute__((always_inline)) static inline void tile256(
    const int mr, int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc, int accumulate,
    int finish, const float *bias, int epilogue, float alpha, int columns) {
    __m256 acc[MR256][2];
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m256 w0 = _mm256_load_ps(b + k * MK_PANEL_WIDTH), w1 = _mm256_load_ps(b + k * MK_PANEL_WIDTH + 8);
        for (int r = 0; r < mr; r++) {
            __m256 x = _mm256_broadcast_ss(a + r * lda + k);
            acc[r][0] = _mm256_fmadd_ps(x, w0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, w1, acc[r][1]);
        }
    }
    __m256i masks[2] = {lane_mask256(columns), lane_mask256(columns - 8)};
    const __m256 zero = _mm256_setzero_ps(), slope = _mm256_set1_ps(alpha);
    for (int r = 0; r < mr; r++) {
        for (int h = 0; h < 2; h++) {
            float *out = c + r * ldc + h * 8;
            __m256 value = acc[r][h];
            if (accumulate) value = _mm256_add_ps(value, _mm256_maskload_ps(out, masks[h]));
            if (finish) {
                if (bias) value = _mm256_add_ps(value, _mm256_maskload_ps(bias + h * 8, masks[h]));
                if (epilogue == MK_EPILOGUE_RELU) value = _mm256_max_ps(zero, value);
                if (epilogue == MK_EPILOGUE_LEAKY_RELU) {
                    __m256 negative = _mm256_cmp_ps(value, zero, _CMP_LT_OQ);
                    value = _mm256_blendv_ps(value, _mm256_mul_ps(value, slope), negative);
                }
            }
            _mm256_maskstore_ps(out, masks[h], value);
        }
    }
}

#define TILE256_CASE(MR)                                                                                      \
    case MR: tile256(MR, kc, a, lda, b, c, ldc, accumulate, finish, bias, epilogue, alpha, columns); break;

T256 static void dispatch256(int mr, int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc,
                             int accumulate, int finish, const float *bias, int epilogue, float alpha, int columns) {
    switch (mr) {
        TILE256_CASE(1) TILE256_CASE(2) TILE256_CASE(3) TILE256_CASE(4) TILE256_CASE(5) TILE256_CASE(6)
        default: break;
    }
}

T256 static void gemm256(int64_t rows, int64_t depth, const float *a, int64_t lda, const float *packed,
                         int64_t outputs, int64_t panel_begin, int64_t panel_end, const float *bias, int epilogue,
                         float alpha, float *c, int64_t ldc) {
    int64_t depth_blocks = depth > 0 ? (depth + KC_MAX - 1) / KC_MAX : 1;
    int64_t row_blocks = (rows + MR256 - 1) / MR256;
    for (int64_t block = 0; block < depth_blocks; block++) {
        int64_t k0 = part_start(depth, depth_blocks, block), k1 = part_start(depth, depth_blocks, block + 1);
        for (int64_t panel = panel_begin; panel < panel_end; panel++) {
            int64_t column = panel * MK_PANEL_WIDTH;
            int columns = (int)(outputs - column < MK_PANEL_WIDTH ? outputs - column : MK_PANEL_WIDTH);
            const float *b = packed + panel * depth * MK_PANEL_WIDTH + k0 * MK_PANEL_WIDTH;
            for (int64_t index = 0; index < row_blocks; index++) {
                int64_t r0 = part_start(rows, row_blocks, index), r1 = part_start(rows, row_blocks, index + 1);
                dispatch256((int)(r1 - r0), k1 - k0, a + r0 * lda + k0, lda, b, c + r0 * ldc + column, ldc, block > 0,
                            block == depth_blocks - 1, bias ? bias + column : NULL, epilogue, alpha, columns);
            }
        }
    }
}

#else

int mk_best_level(void) { return MK_LEVEL_PORTABLE; }

#endif

void mk_gemm_packed(int level, int64_t rows, int64_t depth, const float *a, int64_t lda, const float *packed,
                    int64_t outputs, int64_t panel_begin, int64_t panel_end, const float *bias, int epilogue,
                    float alpha, float *c, int64_t ldc) {
    if (rows <= 0 || panel_begin >= panel_end) return;
    if (level > mk_best_level()) level = mk_best_level();
#ifdef MK_X86
    if (level >= MK_LEVEL_AVX512) {
        // Packing A pays once its rows meet enough columns (16 panels: the copy is under 1/256 of the work).
        float *buffer = panel_end - panel_begin >= PACK_A_MIN_PANELS ? scratch_buffer() : NULL;
        gemm512(rows, depth, a, lda, packed, outputs, panel_begin, panel_end, bias, epilogue, alpha, c, ldc, buffer);
        return;
    }
    if (level == MK_LEVEL_AVX2) {
        gemm256(rows, depth, a, lda, packed, outputs, panel_begin, panel_end, bias, epilogue, alpha, c, ldc);
        return;
    }
#endif
    gemm_portable(rows, depth, a, lda, packed, outputs, panel_begin, panel_end, bias, epilogue, alpha, c, ldc);
}
