// Batched float32 products for the hidden layers of neural fields on x86-64 CPUs (AVX2 + FMA),
// registered with XLA through the typed FFI. The shapes of a NeF fit are small and many:
// (32 x 32) @ (32 x 784) per NeF, vmapped over a few NeFs per device. On one Zen 3 core XLA:CPU
// ran them at 69-73 % of a large GEMM's rate, these register-blocked loops at 80-86 %
// (benchmarks/matmul_ceiling.py). Every NeF is computed on its own, in a fixed order, so a
// result never depends on how NeFs were batched, chunked or placed on devices.
//
//   arena_dense_nn: C[b] = A[b] @ B[b]     A (.., M, K), B (.., K, N) -> C (.., M, N)
//   arena_dense_nt: C[b] = A[b] @ B[b]^T   A (.., M, P), B (.., N, P) -> C (.., M, N)
//
// Compiled with -mavx2 -mfma on first use by arena/fields/_dense.py, which loads it only on CPUs
// that have both.

#include <immintrin.h>

#include <cstdint>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

#define UNROLL _Pragma("GCC unroll 16")

namespace {

inline __m256i tail_mask(int64_t n) {  // lanes [0, n) set, 0 < n <= 8
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lanes);
}

// One (rows x 8*V) block of C = A @ B, rows in {1, .., 4}, V in {1, 2, 3}; `mask` applies to
// the last vector (full lanes except at the right edge of C).
template <int R, int V, bool masked>
inline void nn_block(const float* a, const float* b, float* c, int64_t K, int64_t N,
                     __m256i mask) {
  __m256 acc[R][V];
  UNROLL for (int r = 0; r < R; ++r)
    UNROLL for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m256 bv[V];
    const float* brow = b + k * N;
    UNROLL for (int v = 0; v < V; ++v)
      bv[v] = (masked && v == V - 1) ? _mm256_maskload_ps(brow + 8 * v, mask)
                                     : _mm256_loadu_ps(brow + 8 * v);
    UNROLL for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * K + k);
      UNROLL for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  UNROLL for (int r = 0; r < R; ++r)
    UNROLL for (int v = 0; v < V; ++v) {
      float* dst = c + r * N + 8 * v;
      if (masked && v == V - 1)
        _mm256_maskstore_ps(dst, mask, acc[r][v]);
      else
        _mm256_storeu_ps(dst, acc[r][v]);
    }
}

// Columns outer, rows inner: a 24-column panel of B (K x 24 floats, 3 KB at K = 32) stays in L1
// while every block of rows of A passes over it.
template <int V, bool masked>
void nn_panel(const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N,
              __m256i mask) {
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) nn_block<4, V, masked>(a + i * K, b, c + i * N, K, N, mask);
  for (; i < M; ++i) nn_block<1, V, masked>(a + i * K, b, c + i * N, K, N, mask);
}

void nn(const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N) {
  const __m256i full = _mm256_set1_epi32(-1);
  int64_t j = 0;
  for (; j + 24 <= N; j += 24) nn_panel<3, false>(a, b + j, c + j, M, K, N, full);
  if (N - j >= 16) {
    nn_panel<2, false>(a, b + j, c + j, M, K, N, full);
    j += 16;
  }
  if (N - j >= 8) {
    nn_panel<1, false>(a, b + j, c + j, M, K, N, full);
    j += 8;
  }
  if (N > j) nn_panel<1, true>(a, b + j, c + j, M, K, N, tail_mask(N - j));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One (R x S) block of C = A @ B^T: R rows of A against S rows of B, dot products over P.
template <int R, int S>
inline void nt_block(const float* a, const float* b, float* c, int64_t P, int64_t N) {
  __m256 acc[R][S];
  UNROLL for (int r = 0; r < R; ++r)
    UNROLL for (int s = 0; s < S; ++s) acc[r][s] = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 8 <= P; p += 8) {
    __m256 bv[S];
    UNROLL for (int s = 0; s < S; ++s) bv[s] = _mm256_loadu_ps(b + s * P + p);
    UNROLL for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_loadu_ps(a + r * P + p);
      UNROLL for (int s = 0; s < S; ++s) acc[r][s] = _mm256_fmadd_ps(av, bv[s], acc[r][s]);
    }
  }
  if (p < P) {
    const __m256i mask = tail_mask(P - p);
    __m256 bv[S];
    UNROLL for (int s = 0; s < S; ++s) bv[s] = _mm256_maskload_ps(b + s * P + p, mask);
    UNROLL for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_maskload_ps(a + r * P + p, mask);
      UNROLL for (int s = 0; s < S; ++s) acc[r][s] = _mm256_fmadd_ps(av, bv[s], acc[r][s]);
    }
  }
  UNROLL for (int r = 0; r < R; ++r)
    UNROLL for (int s = 0; s < S; ++s) c[r * N + s] = hsum(acc[r][s]);
}

// Four rows of A against three of B: 12 accumulators, 7 loads per 12 FMAs, and B is streamed
// from L2 once per four rows of A.
template <int R>
void nt_rows(const float* a, const float* b, float* c, int64_t N, int64_t P) {
  int64_t j = 0;
  for (; j + 3 <= N; j += 3) nt_block<R, 3>(a, b + j * P, c + j, P, N);
  for (; j < N; ++j) nt_block<R, 1>(a, b + j * P, c + j, P, N);
}

void nt(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t P) {
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) nt_rows<4>(a + i * P, b, c + i * N, N, P);
  for (; i < M; ++i) nt_rows<1>(a + i * P, b, c + i * N, N, P);
}

// Leading dimensions are a batch; the last two are the matrix. Returns false on a shape the
// Python side should never pass (it checks them before calling).
bool split(ffi::Span<const int64_t> d, int64_t* batch, int64_t* rows, int64_t* cols) {
  if (d.size() < 2) return false;
  *batch = 1;
  for (size_t i = 0; i + 2 < d.size(); ++i) *batch *= d[i];
  *rows = d[d.size() - 2];
  *cols = d[d.size() - 1];
  return true;
}

// C = A @ B (NN) or A @ B^T (NT, `transposed`), one matrix product per leading index
template <bool transposed>
ffi::Error Dense(ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b, ffi::ResultBuffer<ffi::F32> c) {
  int64_t batch, M, K, batch_b, rows_b, cols_b;
  if (!split(a.dimensions(), &batch, &M, &K) || !split(b.dimensions(), &batch_b, &rows_b, &cols_b) ||
      batch != batch_b || K != (transposed ? cols_b : rows_b))
    return ffi::Error::InvalidArgument(transposed ? "arena_dense_nt: operand shapes do not match"
                                                  : "arena_dense_nn: operand shapes do not match");
  const int64_t N = transposed ? rows_b : cols_b;
  const float* pa = a.typed_data();
  const float* pb = b.typed_data();
  float* pc = c->typed_data();
  for (int64_t i = 0; i < batch; ++i) {
    if (transposed)
      nt(pa + i * M * K, pb + i * N * K, pc + i * M * N, M, N, K);
    else
      nn(pa + i * M * K, pb + i * K * N, pc + i * M * N, M, K, N);
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(arena_dense_nn, Dense<false>,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(arena_dense_nt, Dense<true>,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
