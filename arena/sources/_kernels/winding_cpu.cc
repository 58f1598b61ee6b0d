// Generalised winding numbers of a triangle mesh at many points: the evaluation of the face tree
// that arena/sources/_winding.py builds (leaves of faces, caps closing a node's boundary), per
// point, with AVX2 + FMA over eight triangles at a time. Plain C ABI, called through ctypes.
//
// Triangle store: ten float32 rows of `stride` entries (ax ay az bx by bz cx cy cz weight); every
// range a node refers to starts at a multiple of 8 and is padded to one with weight-0 triangles.
// Node k: box[6k..6k+6) = lo - tol, hi + tol (float64); child[2k], child[2k+1] (-1: a leaf);
// faces[2k], faces[2k+1] = start, count of a leaf's faces; cap[2k], cap[2k+1] = start, count of
// the cap (count -1: no cap, evaluate the children from outside). Node 0 is the root.
//
// Per triangle, with a, b, c the corners relative to the point (Van Oosterom and Strackee):
//   Omega / 2 = atan2(det[a b c], |a||b||c| + (a.b)|c| + (b.c)|a| + (c.a)|b|),
// the same polynomial arctangent as the numpy code (|error| < 3.3e-7), summed in float32 within
// a node's range and in float64 across them.

#include <immintrin.h>

#include <cstdint>
#include <vector>

namespace {

constexpr float kAtan[8] = {0.99999925f, -0.33329538f, 0.19943081f, -0.13892041f,
                            0.09601656f, -0.0553817f,  0.02150925f, -0.00396026f};
constexpr double kPi = 3.14159265358979323846;

inline __m256 atan2_ps(__m256 y, __m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x), ay = _mm256_andnot_ps(sign, y);
  const __m256 swap = _mm256_cmp_ps(ay, ax, _CMP_GT_OQ);
  const __m256 hi = _mm256_max_ps(_mm256_max_ps(ax, ay), _mm256_set1_ps(1e-30f));
  const __m256 t = _mm256_div_ps(_mm256_min_ps(ax, ay), hi);
  const __m256 t2 = _mm256_mul_ps(t, t);
  __m256 p = _mm256_set1_ps(kAtan[7]);
  for (int k = 6; k >= 0; --k) p = _mm256_fmadd_ps(p, t2, _mm256_set1_ps(kAtan[k]));
  p = _mm256_mul_ps(p, t);
  p = _mm256_blendv_ps(p, _mm256_sub_ps(_mm256_set1_ps(float(kPi / 2)), p), swap);
  const __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  p = _mm256_blendv_ps(p, _mm256_sub_ps(_mm256_set1_ps(float(kPi)), p), negative);
  return _mm256_or_ps(p, _mm256_and_ps(sign, y));  // p >= 0 here: copysign(p, y)
}

inline __m256 length(__m256 x, __m256 y, __m256 z) {
  return _mm256_sqrt_ps(_mm256_fmadd_ps(x, x, _mm256_fmadd_ps(y, y, _mm256_mul_ps(z, z))));
}

inline __m256 dot(__m256 ux, __m256 uy, __m256 uz, __m256 vx, __m256 vy, __m256 vz) {
  return _mm256_fmadd_ps(ux, vx, _mm256_fmadd_ps(uy, vy, _mm256_mul_ps(uz, vz)));
}

struct Store {
  const float* rows;
  int64_t stride;
  const float* row(int k) const { return rows + k * stride; }
};

// acc += sum over triangles [start, start + count) of weight * Omega / 2 at point p, per lane
// (float32 within the range, float64 across ranges)
inline void half_angles(const Store& s, int64_t start, int64_t count, const __m256 p[3],
                        __m256d acc[2]) {
  __m256 sum = _mm256_setzero_ps();
  for (int64_t i = start; i < start + count; i += 8) {
    __m256 r[9];
    for (int k = 0; k < 9; ++k) r[k] = _mm256_sub_ps(_mm256_loadu_ps(s.row(k) + i), p[k % 3]);
    const __m256 la = length(r[0], r[1], r[2]);
    const __m256 lb = length(r[3], r[4], r[5]);
    const __m256 lc = length(r[6], r[7], r[8]);
    __m256 den = _mm256_mul_ps(_mm256_mul_ps(la, lb), lc);
    den = _mm256_fmadd_ps(dot(r[0], r[1], r[2], r[3], r[4], r[5]), lc, den);
    den = _mm256_fmadd_ps(dot(r[3], r[4], r[5], r[6], r[7], r[8]), la, den);
    den = _mm256_fmadd_ps(dot(r[6], r[7], r[8], r[0], r[1], r[2]), lb, den);
    const __m256 cx = _mm256_fmsub_ps(r[4], r[8], _mm256_mul_ps(r[5], r[7]));  // b x c
    const __m256 cy = _mm256_fmsub_ps(r[5], r[6], _mm256_mul_ps(r[3], r[8]));
    const __m256 cz = _mm256_fmsub_ps(r[3], r[7], _mm256_mul_ps(r[4], r[6]));
    const __m256 det = dot(r[0], r[1], r[2], cx, cy, cz);
    sum = _mm256_fmadd_ps(_mm256_loadu_ps(s.row(9) + i), atan2_ps(det, den), sum);
  }
  acc[0] = _mm256_add_pd(acc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(sum)));
  acc[1] = _mm256_add_pd(acc[1], _mm256_cvtps_pd(_mm256_extractf128_ps(sum, 1)));
}

}  // namespace

extern "C" void arena_winding_numbers(const float* rows, int64_t stride, const double* box,
                                      const int32_t* child, const int64_t* faces, const int64_t* cap,
                                      const float* points, int64_t n, double* out) {
  const Store s{rows, stride};
  std::vector<int64_t> stack;  // node * 2 + (1: the point is outside the node's box)
  stack.reserve(256);
  for (int64_t i = 0; i < n; ++i) {
    const float* q = points + 3 * i;
    const __m256 p[3] = {_mm256_set1_ps(q[0]), _mm256_set1_ps(q[1]), _mm256_set1_ps(q[2])};
    __m256d acc[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    stack.assign(1, 0);
    while (!stack.empty()) {
      const int64_t top = stack.back();
      stack.pop_back();
      const int64_t k = top >> 1;
      bool outside = top & 1;
      if (!outside) {
        const double* b = box + 6 * k;
        outside = !(q[0] >= b[0] && q[1] >= b[1] && q[2] >= b[2] &&
                    q[0] <= b[3] && q[1] <= b[4] && q[2] <= b[5]);
      }
      if (outside && cap[2 * k + 1] >= 0) {
        half_angles(s, cap[2 * k], cap[2 * k + 1], p, acc);
      } else if (child[2 * k] < 0) {
        half_angles(s, faces[2 * k], faces[2 * k + 1], p, acc);
      } else {
        stack.push_back(int64_t{child[2 * k + 1]} * 2 + outside);
        stack.push_back(int64_t{child[2 * k]} * 2 + outside);
      }
    }
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, _mm256_add_pd(acc[0], acc[1]));
    out[i] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) / (2.0 * kPi);
  }
}
