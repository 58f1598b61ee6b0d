// Batched float32 products for the hidden layers of neural fields on x86-64 CPUs (AVX2 + FMA),
// registered with XLA through the typed FFI. The shapes of a NeF fit are small and many:
// (32 x 32) @ (32 x 784) per NeF, vmapped over a few NeFs per device; register-blocked loops keep
// the reused operand in L1 (what they are worth: docs/measurements.md, from
// benchmarks/matmul_ceiling.py). Every NeF is computed on its own, in a fixed order, so a
// result never depends on how NeFs were batched, chunked or placed on devices.
//
//   arena_dense_nn: C[b] = A[b] @ B[b]     A (.., M, K), B (.., K, N) -> C (.., M, N)
//   arena_dense_nt: C[b] = A[b] @ B[b]^T   A (.., M, P), B (.., N, P) -> C (.., M, N)
//   arena_siren_mse: a SIREN's image MSE and all its gradients in one call (see SirenStep below)
//   arena_siren_bce: a SIREN's occupancy BCE-with-logits loss, its logits and all its gradients
//                    in one call, each NeF at its own points (see SirenStep below)
//
// Compiled on first use by arena/fields/_dense.py with -mavx2 -mfma (8 lanes), which loads it only
// on CPUs that have both, or with -DARENA_WIDTH=16: 16 lanes along a layer's columns, in AVX-512F
// registers when compiled with -mavx512f, else in pairs of AVX2 registers (the same arithmetic lane
// for lane: how the 16-lane path is tested on CPUs without AVX-512). Only the column-wise loops
// change width (the products of the fused step and of arena_dense_nn, the sine, the gradients);
// every column is computed lane by lane, its sums over K or over pixels in the same order at
// either width, and the output layer's sums over H stay 8 lanes wide, so both widths give the
// same bits (and the same datasets). Every build has -ffp-contract=off (GCC would otherwise fuse
// a * b + c wherever inlining lets it, differently per build): each FMA meant is written out.
// arena_kernel_selfcheck checks a compiled library against a float64 reference before use.

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

#define UNROLL _Pragma("GCC unroll 16")

#ifndef ARENA_WIDTH
#define ARENA_WIDTH 8
#endif

namespace {

inline __m256i tail_mask(int64_t n) {  // lanes [0, n) set, 0 < n <= 8
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lanes);
}

// The column vector VF of kW floats, its tail mask VMask, and the operations the column-wise loops
// use on them: each is lane by lane, so a column's value never depends on kW.
constexpr int64_t kW = ARENA_WIDTH;
constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
#if ARENA_WIDTH == 8
using VF = __m256;
using VMask = __m256i;
inline VF vzero() { return _mm256_setzero_ps(); }
inline VF vset(float x) { return _mm256_set1_ps(x); }
inline VF vbroadcast(const float* p) { return _mm256_broadcast_ss(p); }
inline VF vloadu(const float* p) { return _mm256_loadu_ps(p); }
inline void vstoreu(float* p, VF v) { _mm256_storeu_ps(p, v); }
inline VF vmaskload(const float* p, VMask m) { return _mm256_maskload_ps(p, m); }
inline void vmaskstore(float* p, VMask m, VF v) { _mm256_maskstore_ps(p, m, v); }
inline VF vfma(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
inline VF vadd(VF a, VF b) { return _mm256_add_ps(a, b); }
inline VF vsub(VF a, VF b) { return _mm256_sub_ps(a, b); }
inline VF vmul(VF a, VF b) { return _mm256_mul_ps(a, b); }
inline VF vround(VF u) { return _mm256_round_ps(u, kRound); }
inline VF vodd_sign(VF k) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtps_epi32(k), 31)); }
inline VF vxor(VF a, VF b) { return _mm256_xor_ps(a, b); }
inline VMask vfull() { return _mm256_set1_epi32(-1); }
inline VMask vtail(int64_t n) { return tail_mask(n); }  // lanes [0, n) set, 0 < n <= kW
#elif ARENA_WIDTH == 16 && defined(__AVX512F__)
using VF = __m512;
using VMask = __mmask16;
inline VF vzero() { return _mm512_setzero_ps(); }
inline VF vset(float x) { return _mm512_set1_ps(x); }
inline VF vbroadcast(const float* p) { return _mm512_set1_ps(*p); }
inline VF vloadu(const float* p) { return _mm512_loadu_ps(p); }
inline void vstoreu(float* p, VF v) { _mm512_storeu_ps(p, v); }
inline VF vmaskload(const float* p, VMask m) { return _mm512_maskz_loadu_ps(m, p); }
inline void vmaskstore(float* p, VMask m, VF v) { _mm512_mask_storeu_ps(p, m, v); }
inline VF vfma(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
inline VF vadd(VF a, VF b) { return _mm512_add_ps(a, b); }
inline VF vsub(VF a, VF b) { return _mm512_sub_ps(a, b); }
inline VF vmul(VF a, VF b) { return _mm512_mul_ps(a, b); }
inline VF vround(VF u) { return _mm512_roundscale_ps(u, kRound); }
inline VF vodd_sign(VF k) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtps_epi32(k), 31)); }
inline VF vxor(VF a, VF b) {
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
inline VMask vfull() { return static_cast<VMask>(0xFFFF); }
inline VMask vtail(int64_t n) { return static_cast<VMask>((1u << n) - 1u); }
#elif ARENA_WIDTH == 16
struct VF { __m256 lo, hi; };
struct VMask { __m256i lo, hi; };
inline VF vzero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline VF vset(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
inline VF vbroadcast(const float* p) { return {_mm256_broadcast_ss(p), _mm256_broadcast_ss(p)}; }
inline VF vloadu(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
inline void vstoreu(float* p, VF v) {
  _mm256_storeu_ps(p, v.lo);
  _mm256_storeu_ps(p + 8, v.hi);
}
inline VF vmaskload(const float* p, VMask m) { return {_mm256_maskload_ps(p, m.lo), _mm256_maskload_ps(p + 8, m.hi)}; }
inline void vmaskstore(float* p, VMask m, VF v) {
  _mm256_maskstore_ps(p, m.lo, v.lo);
  _mm256_maskstore_ps(p + 8, m.hi, v.hi);
}
inline VF vfma(VF a, VF b, VF c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
inline VF vadd(VF a, VF b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
inline VF vsub(VF a, VF b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
inline VF vmul(VF a, VF b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
inline VF vround(VF u) { return {_mm256_round_ps(u.lo, kRound), _mm256_round_ps(u.hi, kRound)}; }
inline __m256 odd_sign8(__m256 k) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtps_epi32(k), 31)); }
inline VF vodd_sign(VF k) { return {odd_sign8(k.lo), odd_sign8(k.hi)}; }
inline VF vxor(VF a, VF b) { return {_mm256_xor_ps(a.lo, b.lo), _mm256_xor_ps(a.hi, b.hi)}; }
inline VMask vfull() { return {_mm256_set1_epi32(-1), _mm256_set1_epi32(-1)}; }
inline VMask vtail(int64_t n) {
  return {tail_mask(std::min<int64_t>(n, 8)), n > 8 ? tail_mask(n - 8) : _mm256_setzero_si256()};
}
#else
#error "ARENA_WIDTH must be 8 or 16"
#endif

// One (rows x kW*V) block of C = A @ B, rows in {1, .., 4} (or 8 with AVX-512), V in {1, .., 4};
// `mask` applies to the last vector (full lanes except at the right edge of C).
template <int R, int V, bool masked>
inline void nn_block(const float* a, const float* b, float* c, int64_t K, int64_t N, VMask mask) {
  VF acc[R][V];
  UNROLL for (int r = 0; r < R; ++r)
    UNROLL for (int v = 0; v < V; ++v) acc[r][v] = vzero();
  for (int64_t k = 0; k < K; ++k) {
    VF bv[V];
    const float* brow = b + k * N;
    UNROLL for (int v = 0; v < V; ++v)
      bv[v] = (masked && v == V - 1) ? vmaskload(brow + kW * v, mask) : vloadu(brow + kW * v);
    UNROLL for (int r = 0; r < R; ++r) {
      const VF av = vbroadcast(a + r * K + k);
      UNROLL for (int v = 0; v < V; ++v) acc[r][v] = vfma(av, bv[v], acc[r][v]);
    }
  }
  UNROLL for (int r = 0; r < R; ++r)
    UNROLL for (int v = 0; v < V; ++v) {
      float* dst = c + r * N + kW * v;
      if (masked && v == V - 1)
        vmaskstore(dst, mask, acc[r][v]);
      else
        vstoreu(dst, acc[r][v]);
    }
}

// Splits N columns into panels of 4 (with `wide`), 3, 2 and 1 vectors (32, 24, 16, 8 columns at
// kW = 8) and a masked tail, and calls panel(V, masked, first column, mask) for each, V (vectors)
// and masked as constants.
template <bool wide, class F>
inline void column_panels(int64_t N, F&& panel) {
  using std::integral_constant;
  const VMask full = vfull();
  const std::false_type whole;
  int64_t j = 0;
  if (wide)
    for (; j + 4 * kW <= N; j += 4 * kW) panel(integral_constant<int, 4>{}, whole, j, full);
  for (; j + 3 * kW <= N; j += 3 * kW) panel(integral_constant<int, 3>{}, whole, j, full);
  if (N - j >= 2 * kW) {
    panel(integral_constant<int, 2>{}, whole, j, full);
    j += 2 * kW;
  }
  if (N - j >= kW) {
    panel(integral_constant<int, 1>{}, whole, j, full);
    j += kW;
  }
  if (N > j) panel(integral_constant<int, 1>{}, std::true_type{}, j, vtail(N - j));
}

// Columns outer, rows inner: a 24-column panel of B (K x 24 floats, 3 KB at K = 32) stays in L1
// while every block of rows of A passes over it.
template <int V, bool masked>
void nn_panel(const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N, VMask mask) {
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) nn_block<4, V, masked>(a + i * K, b, c + i * N, K, N, mask);
  for (; i < M; ++i) nn_block<1, V, masked>(a + i * K, b, c + i * N, K, N, mask);
}

// 32-column panels (the pixel-major products of the fused step) take 3 rows at a time: 12
// accumulators, 4 panel vectors and a broadcast fill the 16 registers.
template <>
void nn_panel<4, false>(const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N, VMask mask) {
  int64_t i = 0;
  for (; i + 3 <= M; i += 3) nn_block<3, 4, false>(a + i * K, b, c + i * N, K, N, mask);
  if (i + 2 <= M) {
    nn_block<2, 4, false>(a + i * K, b, c + i * N, K, N, mask);
    i += 2;
  }
  if (i < M) nn_block<1, 4, false>(a + i * K, b, c + i * N, K, N, mask);
}

#if ARENA_WIDTH == 16
// AVX-512 has 32 registers: two-vector panels (a 32-wide layer at 16 lanes) take 8 rows at a time,
// 16 accumulators, enough independent FMAs to hide their latency (4 rows gave 8). Only the grouping
// of rows changes; every accumulator sums over k in the same order, so the bits are the same. The
// 16-lane code in AVX2 registers (avx2-16, how CPUs without AVX-512 test it) groups rows alike.
template <>
void nn_panel<2, false>(const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N, VMask mask) {
  int64_t i = 0;
  for (; i + 8 <= M; i += 8) nn_block<8, 2, false>(a + i * K, b, c + i * N, K, N, mask);
  for (; i + 4 <= M; i += 4) nn_block<4, 2, false>(a + i * K, b, c + i * N, K, N, mask);
  for (; i < M; ++i) nn_block<1, 2, false>(a + i * K, b, c + i * N, K, N, mask);
}
#endif

// C (M x N) = A (M x K) @ B (K x N); `wide` adds 32-column panels (for small N, such as a
// layer's width in the fused step's pixel-major tiles).
template <bool wide = false>
void nn(const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N) {
  column_panels<wide>(N, [&](auto v, auto masked, int64_t j, VMask mask) {
    nn_panel<decltype(v)::value, decltype(masked)::value>(a, b + j, c + j, M, K, N, mask);
  });
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The horizontal sums of a[0..7], as one vector.
inline __m256 hsum8(const __m256* a) {
  const __m256 t0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  const __m256 t1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20), _mm256_permute2f128_ps(t0, t1, 0x31));
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

// ---------------------------------------------------------------------------------------------
// A whole SIREN fitting step per NeF: forward pass, loss (the MSE of an image, or the binary
// cross-entropy with logits of occupancy labels at points drawn from the NeF's pool) and every
// gradient, over tiles of kTile pixels (or points). The products above run over all of a block's activations (NeFs x width x pixels,
// megabytes), and the passes between them (bias, sine, cosine, gradient products) were bound by
// memory traffic. A SIREN is independent per pixel except for its parameter gradients, so here
// each tile of pixels goes through every layer and back while its activations (kTile x width
// floats per layer) stay in L1, and only the gradients accumulate across tiles. Layout is
// pixel-major inside a tile: h (T x K) @ A (K x H), so every product is a row-block times a
// register-resident panel, with no horizontal sums on the hot path.

#ifndef ARENA_TILE
#define ARENA_TILE 64
#endif
constexpr int64_t kTile = ARENA_TILE;

// sin(pi u) and pi cos(pi u) of kW lanes: k = round(u) (exact), f = u - k in [-1/2, 1/2] (exact),
// odd/even polynomials in f (the coefficients of arena/fields/_sine.py), and the sign (-1)^k
// from the low bit of k.
constexpr double kPi = 3.141592653589793;
constexpr float kSin[5] = {3.1415925797560846f, -5.167706862999895f, 2.550031140296041f,
                           -0.5980438695035822f, 0.07721773734022513f};
constexpr float kPiCos[5] = {float(kPi * 0.9999999533181323), float(kPi * -4.934792830699702),
                             float(kPi * 4.058411301006365), float(kPi * -1.3318760087995334),
                             float(kPi * 0.21968811421590026)};

inline void sincospi(VF u, VF* s, VF* d) {
  const VF k = vround(u);
  const VF f = vsub(u, k);
  const VF f2 = vmul(f, f);
  VF ps = vset(kSin[4]);
  VF pc = vset(kPiCos[4]);
  UNROLL for (int i = 3; i >= 0; --i) {
    ps = vfma(ps, f2, vset(kSin[i]));
    pc = vfma(pc, f2, vset(kPiCos[i]));
  }
  const VF sign = vodd_sign(k);
  *s = vxor(vmul(ps, f), sign);
  *d = vxor(pc, sign);
}

inline VF load(const float* p, bool masked, VMask mask) { return masked ? vmaskload(p, mask) : vloadu(p); }

inline void store(float* p, VF v, bool masked, VMask mask) {
  if (masked)
    vmaskstore(p, mask, v);
  else
    vstoreu(p, v);
}

// C (K x N) += A^T @ B for A (T x K) and B (T x N): R rows of C (columns k.. of A) by V vectors.
template <int R, int V, bool masked>
inline void tn_block(const float* a, const float* b, float* c, int64_t T, int64_t K, int64_t N, VMask mask) {
  VF acc[R][V];
  UNROLL for (int r = 0; r < R; ++r)
    UNROLL for (int v = 0; v < V; ++v) acc[r][v] = load(c + r * N + kW * v, masked && v == V - 1, mask);
  for (int64_t p = 0; p < T; ++p) {
    VF bv[V];
    UNROLL for (int v = 0; v < V; ++v) bv[v] = load(b + p * N + kW * v, masked && v == V - 1, mask);
    UNROLL for (int r = 0; r < R; ++r) {
      const VF av = vbroadcast(a + p * K + r);
      UNROLL for (int v = 0; v < V; ++v) acc[r][v] = vfma(av, bv[v], acc[r][v]);
    }
  }
  UNROLL for (int r = 0; r < R; ++r)
    UNROLL for (int v = 0; v < V; ++v) store(c + r * N + kW * v, acc[r][v], masked && v == V - 1, mask);
}

template <int V, bool masked>
void tn_panel(const float* a, const float* b, float* c, int64_t T, int64_t K, int64_t N, VMask mask) {
  int64_t i = 0;
  for (; i + 4 <= K; i += 4) tn_block<4, V, masked>(a + i, b, c + i * N, T, K, N, mask);
  for (; i < K; ++i) tn_block<1, V, masked>(a + i, b, c + i * N, T, K, N, mask);
}

// 32-column panels take 3 rows at a time, as in nn_panel<4, false>.
template <>
void tn_panel<4, false>(const float* a, const float* b, float* c, int64_t T, int64_t K, int64_t N, VMask mask) {
  int64_t i = 0;
  for (; i + 3 <= K; i += 3) tn_block<3, 4, false>(a + i, b, c + i * N, T, K, N, mask);
  if (i + 2 <= K) {
    tn_block<2, 4, false>(a + i, b, c + i * N, T, K, N, mask);
    i += 2;
  }
  if (i < K) tn_block<1, 4, false>(a + i, b, c + i * N, T, K, N, mask);
}

#if ARENA_WIDTH == 16
// 8 rows of C at a time with 32 registers, as in nn_panel<2, false>; each sum over p keeps its order.
template <>
void tn_panel<2, false>(const float* a, const float* b, float* c, int64_t T, int64_t K, int64_t N, VMask mask) {
  int64_t i = 0;
  for (; i + 8 <= K; i += 8) tn_block<8, 2, false>(a + i, b, c + i * N, T, K, N, mask);
  for (; i + 4 <= K; i += 4) tn_block<4, 2, false>(a + i, b, c + i * N, T, K, N, mask);
  for (; i < K; ++i) tn_block<1, 2, false>(a + i, b, c + i * N, T, K, N, mask);
}
#endif

void tn_acc(const float* a, const float* b, float* c, int64_t T, int64_t K, int64_t N) {
  column_panels<true>(N, [&](auto v, auto masked, int64_t j, VMask mask) {
    tn_panel<decltype(v)::value, decltype(masked)::value>(a, b + j, c + j, T, K, N, mask);
  });
}

// Row-wise over a (T x H) tile, kW columns at a time with a masked tail.
template <class F>
inline void for_vectors(int64_t H, F&& f) {
  const VMask full = vfull();
  int64_t j = 0;
  for (; j + kW <= H; j += kW) f(j, false, full);
  if (j < H) f(j, true, vtail(H - j));
}

// The same, 8 columns at a time (the output layer's sums over H, which must not depend on kW).
template <class F>
inline void for_vectors8(int64_t H, F&& f) {
  const __m256i full = _mm256_set1_epi32(-1);
  int64_t j = 0;
  for (; j + 8 <= H; j += 8) f(j, false, full);
  if (j < H) f(j, true, tail_mask(H - j));
}

inline __m256 load8(const float* p, bool masked, __m256i mask) {
  return masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

// In place: u (T x H) -> sin(pi (u + bias)); d = pi cos(pi (u + bias)).
void sine_tile(float* u, float* d, const float* bias, int64_t T, int64_t H) {
  for_vectors(H, [&](int64_t j, bool masked, VMask mask) {
    const VF bj = load(bias + j, masked, mask);
    for (int64_t p = 0; p < T; ++p) {
      VF sv, dv;
      sincospi(vadd(load(u + p * H + j, masked, mask), bj), &sv, &dv);
      store(u + p * H + j, sv, masked, mask);
      store(d + p * H + j, dv, masked, mask);
    }
  });
}

// gu = gh * d (T x H), and the bias gradient db (H) += column sums of gu.
void sine_backward_tile(const float* gh, const float* d, float* gu, float* db, int64_t T, int64_t H) {
  for_vectors(H, [&](int64_t j, bool masked, VMask mask) {
    VF acc = load(db + j, masked, mask);
    for (int64_t p = 0; p < T; ++p) {
      const VF g = vmul(load(gh + p * H + j, masked, mask), load(d + p * H + j, masked, mask));
      store(gu + p * H + j, g, masked, mask);
      acc = vadd(acc, g);
    }
    store(db + j, acc, masked, mask);
  });
}

// Per-thread buffers of the fused step, grown to the largest SIREN seen and reused.
struct SirenScratch {
  std::vector<float> s, d, gh, gu, at, wt, dwt, gy, xg;
  std::vector<double> sse;
};

// exp(x) of 8 lanes for x <= 0 (0 below -87.3, where 2^n would leave the normal range):
// x = n ln 2 + r with |r| <= ln 2 / 2 (ln 2 in two parts, the first exact in n ln2_hi), the
// Taylor polynomial of e^r to degree 7 (relative error < 1e-8), times 2^n from the exponent bits.
inline __m256 exp_nonpositive(__m256 x) {
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.4426950408889634f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440054690583e-4f), r);
  constexpr float inv_fact[8] = {1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
  __m256 p = _mm256_set1_ps(inv_fact[7]);
  UNROLL for (int i = 6; i >= 0; --i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(inv_fact[i]));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  return _mm256_and_ps(e, _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_GE_OQ));
}

// log1p(e) of 8 lanes for e in [0, 1]: 2 atanh(s) with s = e / (2 + e) in [0, 1/3], its odd
// series to s^17 (relative error < 1e-8).
inline __m256 log1p_unit(__m256 e) {
  const __m256 s = _mm256_div_ps(e, _mm256_add_ps(_mm256_set1_ps(2.0f), e));
  const __m256 s2 = _mm256_mul_ps(s, s);
  __m256 p = _mm256_set1_ps(2.0f / 17);
  UNROLL for (int k = 7; k >= 0; --k) p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(2.0f / (2 * k + 1)));
  return _mm256_mul_ps(p, s);
}

// Binary cross-entropy with logits of 8 lanes, in the stable form: with softplus(z) =
// max(z, 0) + log1p(exp(-|z|)), the loss -y log sigmoid(z) - (1 - y) log sigmoid(-z) is
// y softplus(-z) + (1 - y) softplus(z), and its derivative sigmoid(z) - y.
inline void bce_lanes(__m256 z, __m256 y, __m256* loss, __m256* dz) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 e = exp_nonpositive(_mm256_sub_ps(zero, _mm256_max_ps(z, _mm256_sub_ps(zero, z))));
  const __m256 l = log1p_unit(e);
  const __m256 sp_pos = _mm256_add_ps(_mm256_max_ps(z, zero), l);                     // softplus(z)
  const __m256 sp_neg = _mm256_add_ps(_mm256_max_ps(_mm256_sub_ps(zero, z), zero), l);  // softplus(-z)
  *loss = _mm256_fmadd_ps(sp_pos, _mm256_sub_ps(one, y), _mm256_mul_ps(y, sp_neg));
  const __m256 r = _mm256_div_ps(one, _mm256_add_ps(one, e));  // sigmoid(|z|)
  const __m256 sig = _mm256_blendv_ps(_mm256_mul_ps(e, r), r, _mm256_cmp_ps(z, zero, _CMP_GE_OQ));
  *dz = _mm256_sub_ps(sig, y);
}

enum class Loss { kMse, kBce };

// The linear output layer for `rows` (<= 8) pixels of a tile, from the last sine layer's
// activations h (rows x H) and derivative d: the loss against t (rows x C), its gradients for
// the output weights (transposed, sc.dwt) and bias (db), and the last sine layer's
// g_u = (g_y W^T) * d with its bias gradient (dblast). kMse: squared errors add to sc.sse;
// kBce: t holds labels, the outputs are logits (written to `logits`, rows x C) and their
// binary cross-entropies add to sc.sse. `full` (rows == 8) unrolls the pixels.
template <Loss loss, bool full>
inline void output_group(const float* h, const float* t, const float* d, float* gu, int64_t rows, int64_t H,
                         int64_t C, float gscale, const float* bias, float* db, float* dblast, SirenScratch& sc,
                         float* logits = nullptr) {
  const int64_t n = full ? 8 : rows;
  for (int64_t ch = 0; ch < C; ++ch) {
    const float* w = sc.wt.data() + ch * H;
    __m256 acc[8];  // 8 lanes at either width, so that these sums over H are the same bits
    UNROLL for (int64_t q = 0; q < 8; ++q) acc[q] = _mm256_setzero_ps();
    for_vectors8(H, [&](int64_t j, bool masked, __m256i mask) {
      const __m256 wv = load8(w + j, masked, mask);
      UNROLL for (int64_t q = 0; q < n; ++q) acc[q] = _mm256_fmadd_ps(load8(h + q * H + j, masked, mask), wv, acc[q]);
    });
    alignas(32) float y[8];
    _mm256_store_ps(y, hsum8(acc));
    if constexpr (loss == Loss::kMse) {
      for (int64_t q = 0; q < n; ++q) {
        const float r = y[q] + bias[ch] - t[q * C + ch];
        sc.sse[ch] = std::fma(static_cast<double>(r), static_cast<double>(r), sc.sse[ch]);
        sc.gy[q * C + ch] = gscale * r;
        db[ch] += gscale * r;
      }
    } else {
      alignas(32) float lab[8] = {0, 0, 0, 0, 0, 0, 0, 0}, bce[8], dz[8];
      for (int64_t q = 0; q < n; ++q) lab[q] = t[q * C + ch];
      const __m256 z = _mm256_add_ps(_mm256_load_ps(y), _mm256_set1_ps(bias[ch]));
      __m256 lv, gv;
      bce_lanes(z, _mm256_load_ps(lab), &lv, &gv);
      _mm256_store_ps(y, z);
      _mm256_store_ps(bce, lv);
      _mm256_store_ps(dz, gv);
      for (int64_t q = 0; q < n; ++q) {
        logits[q * C + ch] = y[q];
        sc.sse[ch] += bce[q];
        sc.gy[q * C + ch] = gscale * dz[q];
        db[ch] += gscale * dz[q];
      }
    }
  }
  for_vectors(H, [&](int64_t j, bool masked, VMask mask) {
    VF gh[8];
    UNROLL for (int64_t q = 0; q < 8; ++q) gh[q] = vzero();
    for (int64_t ch = 0; ch < C; ++ch) {
      const VF w = load(sc.wt.data() + ch * H + j, masked, mask);
      float* dwp = sc.dwt.data() + ch * H + j;
      VF dw = load(dwp, masked, mask);
      UNROLL for (int64_t q = 0; q < n; ++q) {
        const VF g = vbroadcast(&sc.gy[q * C + ch]);
        dw = vfma(g, load(h + q * H + j, masked, mask), dw);
        gh[q] = vfma(g, w, gh[q]);
      }
      store(dwp, dw, masked, mask);
    }
    VF dbv = load(dblast + j, masked, mask);
    UNROLL for (int64_t q = 0; q < n; ++q) {
      const VF g = vmul(gh[q], load(d + q * H + j, masked, mask));
      store(gu + q * H + j, g, masked, mask);
      dbv = vadd(dbv, g);
    }
    store(dblast + j, dbv, masked, mask);
  });
}

// Copies the points idx[p0 .. p0 + T) of a pool x (M x in) into xg (T x in), each index clamped
// to [0, M) as XLA's gather does. A pool is megabytes and the draws are random, so every row is
// a cache miss; the fused step copies the next tile's rows while the current tile computes
// (its loads are independent of that work, so the misses overlap it).
inline void gather_rows(const float* x, const int32_t* idx, int64_t p0, int64_t T, int64_t M, int64_t in,
                        float* xg) {
  for (int64_t p = 0; p < T; ++p)
    std::copy_n(x + std::min<int64_t>(std::max<int64_t>(idx[p0 + p], 0), M - 1) * in, in, xg + p * in);
}

// One NeF. x (P x in) coordinates, t (P x C) targets (kMse) or labels (kBce); a[l] (in_l x
// out_l) and c[l] (out_l) the layers (the sine layers' already scaled by omega0 / pi); da, dc
// their gradients (overwritten); per (C) the per-channel mean over points of the squared error
// (kMse) or of the binary cross-entropy with logits (kBce, which also writes the logits, P x C).
// The loss is their mean over channels. kBce reads its points through `idx` (P): point p is
// row idx[p] of x (M x in), a pool.
template <Loss loss>
void siren_step_one(const float* x, const int32_t* idx, int64_t M, const float* t, const float* const* a,
                    const float* const* c, float* const* da, float* const* dc, float* per, float* logits,
                    int64_t P, int64_t in, int64_t H, int64_t C, int64_t L, SirenScratch& sc) {
  const int64_t hidden = L - 1;  // sine layers
  sc.s.resize(hidden * kTile * H);
  sc.d.resize(hidden * kTile * H);
  sc.gh.resize(kTile * H);
  sc.gu.resize(kTile * H);
  sc.at.resize((hidden - 1) * H * H);
  sc.wt.resize(C * H);
  sc.dwt.assign(C * H, 0.0f);
  sc.gy.resize(8 * C);
  if (loss == Loss::kBce) {  // two tiles of drawn points: this tile's and the next's
    sc.xg.resize(2 * kTile * in);
    gather_rows(x, idx, 0, std::min(kTile, P), M, in, sc.xg.data());
  }
  sc.sse.assign(C, 0.0);
  for (int64_t l = 0; l < L; ++l) {
    const int64_t rows = l == 0 ? in : H, cols = l == L - 1 ? C : H;
    std::fill(da[l], da[l] + rows * cols, 0.0f);
    std::fill(dc[l], dc[l] + cols, 0.0f);
  }
  for (int64_t l = 1; l < hidden; ++l)  // A_l^T (at slot l - 1) for the backward product g_h = g_u A_l^T
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < H; ++j) sc.at[(l - 1) * H * H + j * H + i] = a[l][i * H + j];
  for (int64_t i = 0; i < H; ++i)
    for (int64_t k = 0; k < C; ++k) sc.wt[k * H + i] = a[L - 1][i * C + k];
  const float gscale = (loss == Loss::kMse ? 2.0f : 1.0f) / static_cast<float>(P * C);

  for (int64_t p0 = 0; p0 < P; p0 += kTile) {
    const int64_t T = std::min(kTile, P - p0);
    const float* xt = x + p0 * in;
    if constexpr (loss == Loss::kBce) {  // this tile's points were copied with the previous tile
      float* const here = sc.xg.data() + (p0 / kTile % 2) * kTile * in;
      xt = here;
      const int64_t next = p0 + T;
      if (next < P)
        gather_rows(x, idx, next, std::min(kTile, P - next), M, in, sc.xg.data() + (next / kTile % 2) * kTile * in);
    }
    // forward through the sine layers
    const float* h = xt;
    int64_t k = in;
    for (int64_t l = 0; l < hidden; ++l) {
      float* s = sc.s.data() + l * kTile * H;
      nn<true>(h, a[l], s, T, k, H);
      sine_tile(s, sc.d.data() + l * kTile * H, c[l], T, H);
      h = s;
      k = H;
    }
    // the linear output layer, the error and its gradients, 8 pixels at a time; then the last
    // sine layer's g_u = (g_y W^T) * d directly (g_h is never stored for it)
    const float* dlast = sc.d.data() + (hidden - 1) * kTile * H;
    float* const dblast = dc[hidden - 1];
    for (int64_t q0 = 0; q0 < T; q0 += 8) {
      const int64_t n = std::min<int64_t>(8, T - q0);
      float* const out = loss == Loss::kBce ? logits + (p0 + q0) * C : nullptr;
      if (n == 8)
        output_group<loss, true>(h + q0 * H, t + (p0 + q0) * C, dlast + q0 * H, sc.gu.data() + q0 * H, 8, H, C,
                                 gscale, c[L - 1], dc[L - 1], dblast, sc, out);
      else
        output_group<loss, false>(h + q0 * H, t + (p0 + q0) * C, dlast + q0 * H, sc.gu.data() + q0 * H, n, H, C,
                                  gscale, c[L - 1], dc[L - 1], dblast, sc, out);
    }
    // backward through the sine layers
    for (int64_t l = hidden - 1; l >= 0; --l) {
      if (l < hidden - 1) sine_backward_tile(sc.gh.data(), sc.d.data() + l * kTile * H, sc.gu.data(), dc[l], T, H);
      const float* hp = l == 0 ? xt : sc.s.data() + (l - 1) * kTile * H;
      tn_acc(hp, sc.gu.data(), da[l], T, l == 0 ? in : H, H);
      if (l > 0) nn<true>(sc.gu.data(), sc.at.data() + (l - 1) * H * H, sc.gh.data(), T, H, H);
    }
  }
  for (int64_t i = 0; i < H; ++i)
    for (int64_t ch = 0; ch < C; ++ch) da[L - 1][i * C + ch] = sc.dwt[ch * H + i];
  for (int64_t ch = 0; ch < C; ++ch) per[ch] = static_cast<float>(sc.sse[ch] / static_cast<double>(P));
}

// Arguments: x (B, P, in) (kMse) or a pool x (B, M, in) and the indices of the points drawn
// from it, idx (B, P) int32 (kBce); t (B, P, C); then weight (B, in_l, out_l) and bias (B, out_l)
// of each of the L layers. Results: the per-channel loss (B, C) (mse or bce), for kBce the
// logits (B, P, C), then the gradient of the loss (the mean of the per-channel loss) with
// respect to each weight and bias, in the same order and shapes.
template <Loss loss>
ffi::Error SirenStep(ffi::RemainingArgs args, ffi::RemainingRets rets) {
  constexpr bool bce = loss == Loss::kBce;
  constexpr size_t extra = bce ? 1 : 0;  // the indices among the arguments, the logits among the results
  const auto bad = [](const char* what) {
    return ffi::Error::InvalidArgument(std::string(bce ? "arena_siren_bce: " : "arena_siren_mse: ") + what);
  };
  if (args.size() < 6 + extra || (args.size() - extra) % 2 != 0 || rets.size() != args.size() - 1)
    return bad(bce ? "expected x, idx, t, then a weight and a bias per layer (at least two layers)"
                   : "expected x, t, then a weight and a bias per layer (at least two layers)");
  const int64_t L = (args.size() - 2 - extra) / 2;
  auto x = args.get<ffi::Buffer<ffi::F32>>(0);
  auto t = args.get<ffi::Buffer<ffi::F32>>(1 + extra);
  auto per = rets.get<ffi::Buffer<ffi::F32>>(0);
  auto logits = rets.get<ffi::Buffer<ffi::F32>>(extra);  // the loss again for kMse (unused)
  if (!x || !t || !per || !logits) return bad("x, t and the results must be float32 buffers");
  // leading dimensions are a batch of NeFs (as vmap leaves them); the last two are the matrix
  int64_t B, P, in, Bt, Pt, C;
  if (!split(x->dimensions(), &B, &P, &in) || !split(t->dimensions(), &Bt, &Pt, &C) || B != Bt ||
      (!bce && P != Pt) || P < 1 || in < 1 || C < 1)
    return bad("x and t must be (.., P, in) and (.., P, C) with the same leading dimensions");
  const int64_t M = P;  // kBce: x is the pool, of M points; P is the number drawn
  const int32_t* idx = nullptr;
  if constexpr (bce) {
    auto ib = args.get<ffi::Buffer<ffi::S32>>(1);
    if (!ib || ib->element_count() != static_cast<size_t>(B * Pt)) return bad("idx must be int32 (.., P)");
    idx = ib->typed_data();
    P = Pt;
  }
  std::vector<const float*> a(L), c(L);
  std::vector<float*> da(L), dc(L);
  int64_t H = 0;
  for (int64_t l = 0; l < L; ++l) {
    auto w = args.get<ffi::Buffer<ffi::F32>>(2 + extra + 2 * l);
    auto b = args.get<ffi::Buffer<ffi::F32>>(3 + extra + 2 * l);
    auto dw = rets.get<ffi::Buffer<ffi::F32>>(1 + extra + 2 * l);
    auto db = rets.get<ffi::Buffer<ffi::F32>>(2 + extra + 2 * l);
    if (!w || !b || !dw || !db) return bad("every weight, bias and gradient must be a float32 buffer");
    const auto wd = w->dimensions();
    if (l == 0 && wd.size() >= 2) H = wd[wd.size() - 1];
    const int64_t rows = l == 0 ? in : H, cols = l == L - 1 ? C : H;
    const size_t wsize = static_cast<size_t>(B * rows * cols), bsize = static_cast<size_t>(B * cols);
    if (H < 1 || wd.size() < 2 || wd[wd.size() - 2] != rows || wd[wd.size() - 1] != cols ||
        w->element_count() != wsize || b->element_count() != bsize || (*dw)->element_count() != wsize ||
        (*db)->element_count() != bsize)
      return bad("layer shapes do not chain (in -> H -> ... -> H -> C)");
    a[l] = w->typed_data();
    c[l] = b->typed_data();
    da[l] = (*dw)->typed_data();
    dc[l] = (*db)->typed_data();
  }
  if ((*per)->element_count() != static_cast<size_t>(B * C))
    return bad(bce ? "bce must be (.., C)" : "mse must be (.., C)");
  if (bce && (*logits)->element_count() != static_cast<size_t>(B * P * C)) return bad("logits must be (.., P, C)");
  thread_local SirenScratch scratch;
  std::vector<const float*> ai(L), ci(L);
  std::vector<float*> dai(L), dci(L);
  for (int64_t i = 0; i < B; ++i) {
    for (int64_t l = 0; l < L; ++l) {
      const int64_t rows = l == 0 ? in : H, cols = l == L - 1 ? C : H;
      ai[l] = a[l] + i * rows * cols;
      ci[l] = c[l] + i * cols;
      dai[l] = da[l] + i * rows * cols;
      dci[l] = dc[l] + i * cols;
    }
    siren_step_one<loss>(x->typed_data() + i * M * in, bce ? idx + i * P : nullptr, M, t->typed_data() + i * P * C,
                         ai.data(), ci.data(), dai.data(), dci.data(), (*per)->typed_data() + i * C,
                         bce ? (*logits)->typed_data() + i * P * C : nullptr, P, in, H, C, L, scratch);
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

XLA_FFI_DEFINE_HANDLER_SYMBOL(arena_siren_mse, SirenStep<Loss::kMse>,
                              ffi::Ffi::Bind().RemainingArgs().RemainingRets());

XLA_FFI_DEFINE_HANDLER_SYMBOL(arena_siren_bce, SirenStep<Loss::kBce>,
                              ffi::Ffi::Bind().RemainingArgs().RemainingRets());

// The lanes of this build's column vectors (8 or 16).
extern "C" int arena_kernel_width() { return static_cast<int>(kW); }

// The fused image step on a fixed SIREN (2 -> 44 -> 44 -> 44 -> 3, 100 pixels: a full and a part
// tile; 44 columns: full vectors and a masked tail at both widths, 4 lanes at 8, 12 at 16) against the same step
// in float64 scalar loops (std::sin, plain sums): the largest difference of any gradient or loss,
// relative to that result's largest magnitude. A correct build returns ~1e-6; the Python side
// uses a library only when this is small, so a miscompiled or mis-dispatched build falls back
// instead of fitting wrong NeFs.
extern "C" double arena_kernel_selfcheck() {
  constexpr int64_t in = 2, H = 44, C = 3, L = 4, P = 100;
  uint32_t state = 12345u;
  const auto uniform = [&state]() {  // in [-1, 1)
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
  };
  std::vector<float> x(P * in), t(P * C);
  for (float& v : x) v = uniform();
  for (float& v : t) v = uniform();
  std::vector<std::vector<float>> a(L), c(L), da(L), dc(L);
  for (int64_t l = 0; l < L; ++l) {
    const int64_t rows = l == 0 ? in : H, cols = l == L - 1 ? C : H;
    const float scale = l == 0 ? 1.0f : 0.3f;
    a[l].resize(rows * cols);
    c[l].resize(cols);
    da[l].resize(rows * cols);
    dc[l].resize(cols);
    for (float& v : a[l]) v = scale * uniform();
    for (float& v : c[l]) v = 0.5f * uniform();
  }
  std::vector<const float*> ap(L), cp(L);
  std::vector<float*> dap(L), dcp(L);
  for (int64_t l = 0; l < L; ++l) {
    ap[l] = a[l].data();
    cp[l] = c[l].data();
    dap[l] = da[l].data();
    dcp[l] = dc[l].data();
  }
  std::vector<float> per(C);
  SirenScratch scratch;
  siren_step_one<Loss::kMse>(x.data(), nullptr, P, t.data(), ap.data(), cp.data(), dap.data(), dcp.data(),
                             per.data(), nullptr, P, in, H, C, L, scratch);
#ifdef ARENA_SELFCHECK_POISON  // tests: one gradient as a broken build might leave it
  da[1][5] = ARENA_SELFCHECK_POISON;
#endif

  // float64 reference: h_{l+1} = sin(pi (h_l A_l + c_l)) for the sine layers, y = h W + b
  const double pi = kPi;
  std::vector<std::vector<double>> hs(L), ds(L);  // hs[0] = x; hs[l + 1], ds[l]: sine layer l
  hs[0].assign(x.begin(), x.end());
  for (int64_t l = 0; l < L - 1; ++l) {
    const int64_t rows = l == 0 ? in : H;
    hs[l + 1].assign(P * H, 0.0);
    ds[l].assign(P * H, 0.0);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t j = 0; j < H; ++j) {
        double u = c[l][j];
        for (int64_t i = 0; i < rows; ++i) u += hs[l][p * rows + i] * a[l][i * H + j];
        hs[l + 1][p * H + j] = std::sin(pi * u);
        ds[l][p * H + j] = pi * std::cos(pi * u);
      }
  }
  const std::vector<double>& last = hs[L - 1];
  std::vector<double> gy(P * C), mse(C, 0.0), rda_last(H * C, 0.0), rdc_last(C, 0.0), gh(P * H, 0.0);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t ch = 0; ch < C; ++ch) {
      double y = c[L - 1][ch];
      for (int64_t i = 0; i < H; ++i) y += last[p * H + i] * a[L - 1][i * C + ch];
      const double r = y - t[p * C + ch];
      mse[ch] += r * r / P;
      gy[p * C + ch] = 2.0 * r / (P * C);
    }
  double worst = 0.0;
  const auto compare = [&worst](const float* got, const std::vector<double>& want) {
    double scale = 1e-30, diff = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
      if (!std::isfinite(got[i])) {  // a NaN or an infinity fails the check, whatever else it finds
        worst = INFINITY;
        return;
      }
      scale = std::max(scale, std::abs(want[i]));
      diff = std::max(diff, std::abs(static_cast<double>(got[i]) - want[i]));
    }
    worst = std::max(worst, diff / scale);
  };
  compare(per.data(), mse);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t ch = 0; ch < C; ++ch) {
      rdc_last[ch] += gy[p * C + ch];
      for (int64_t i = 0; i < H; ++i) {
        rda_last[i * C + ch] += last[p * H + i] * gy[p * C + ch];
        gh[p * H + i] += gy[p * C + ch] * a[L - 1][i * C + ch];
      }
    }
  compare(da[L - 1].data(), rda_last);
  compare(dc[L - 1].data(), rdc_last);
  for (int64_t l = L - 2; l >= 0; --l) {
    const int64_t rows = l == 0 ? in : H;
    std::vector<double> gu(P * H), rda(rows * H, 0.0), rdc(H, 0.0), prev(P * rows, 0.0);
    for (int64_t k = 0; k < P * H; ++k) gu[k] = gh[k] * ds[l][k];
    for (int64_t p = 0; p < P; ++p)
      for (int64_t j = 0; j < H; ++j) {
        rdc[j] += gu[p * H + j];
        for (int64_t i = 0; i < rows; ++i) {
          rda[i * H + j] += hs[l][p * rows + i] * gu[p * H + j];
          prev[p * rows + i] += gu[p * H + j] * a[l][i * H + j];
        }
      }
    compare(da[l].data(), rda);
    compare(dc[l].data(), rdc);
    gh.swap(prev);
  }
  return worst;
}
