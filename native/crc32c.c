// CRC-32C (Castagnoli) for Node.js as an N-API addon: update(crc, buf, start, end).
//
// Conventions: polynomial 0x1EDC6F41, bit-reflected (0x82F63B78), register
// initialised to all ones and inverted at the end. The value passed in and out is
// the finished CRC of the bytes so far (0 before any byte), so calls chain.
//
// In the reflected representation bit i of a 32-bit word is the coefficient of
// x^(31-i); a message byte's bit 0 is its highest-degree bit. The hardware crc32
// instruction with register c over a 64-bit word d returns
//   (c * x^64 + d * x^32) mod P.
// Running the register from c over a block M of L bytes therefore gives
//   c * x^(8L) + R(0, M)            (all mod P)
// so S interleaved streams over S adjacent blocks A0..A(S-1), the first started from
// c and the others from 0, combine as
//   r = R(c, A0) * x^(8L(S-1)) ^ R(0, A1) * x^(8L(S-2)) ^ ... ^ R(0, A(S-1))
// (the S-1 shifts are independent, so they overlap instead of queueing).
// Multiplying a register r by x^(8L) takes one carry-less multiply and one crc32:
// the 64-bit product of r and k = x^(8L-33) mod P, read as a reflected 64-bit word,
// is r*k*x (clmul of two reflected 32-bit values lands one degree short), and
// crc32(0, that) multiplies by x^32 and reduces: r * x^(8L-33+1+32) = r * x^(8L).
//
// Paths, picked once at load from cpuid:
//   "pclmul": SSE4.2 + PCLMULQDQ, STREAMS interleaved crc32q streams (x86-64).
//   "sse4.2": SSE4.2 only, one crc32q stream.
//   "table":  portable slicing-by-8 tables.
#define NAPI_VERSION 4
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#define POLY 0x82F63B78u

// --- GF(2) arithmetic mod P in the reflected representation ----------------------

// a * b mod P: for each coefficient of a (x^0 is bit 31), add b * x^i.
static uint32_t gf_mul(uint32_t a, uint32_t b) {
  uint32_t p = 0;
  for (int i = 0; i < 32; i++) {
    if (a & (0x80000000u >> i)) p ^= b;
    b = (b >> 1) ^ ((b & 1) ? POLY : 0); // b *= x
  }
  return p;
}

// x^n mod P by square-and-multiply.
static uint32_t gf_xpow(uint64_t n) {
  uint32_t r = 0x80000000u;  // 1
  uint32_t sq = 0x40000000u; // x
  while (n) {
    if (n & 1) r = gf_mul(r, sq);
    sq = gf_mul(sq, sq);
    n >>= 1;
  }
  return r;
}

// --- portable path: slicing-by-8 ------------------------------------------------

static uint32_t tab[8][256];

static void tab_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ ((c & 1) ? POLY : 0);
    tab[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xff];
}

static inline uint64_t load64le(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static uint32_t crc_table(uint32_t c, const uint8_t *p, size_t n) {
  while (n >= 8) {
    uint64_t w = load64le(p) ^ c;
    c = tab[7][w & 0xff] ^ tab[6][(w >> 8) & 0xff] ^ tab[5][(w >> 16) & 0xff] ^ tab[4][(w >> 24) & 0xff] ^
        tab[3][(w >> 32) & 0xff] ^ tab[2][(w >> 40) & 0xff] ^ tab[1][(w >> 48) & 0xff] ^ tab[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ tab[0][(c ^ *p++) & 0xff];
  return c;
}

#ifdef CRC_X86
// --- SSE4.2 paths ------------------------------------------------------------------

// Streams run over blocks of BLOCK bytes while the input lasts, then over one last
// round of equal blocks of whatever length (a multiple of 8) fits.
#define STREAMS 6
#define BLOCK 4096
// Below this many bytes one stream is quicker than splitting and combining.
#define MIN_SPLIT 96

// shift_k[j] = x^(64j - 33) mod P: the multiplier that moves a register past j words
// (up to STREAMS-1 blocks).
#define SHIFT_MAX ((STREAMS - 1) * BLOCK / 8)
static uint32_t shift_k[SHIFT_MAX + 1];

static void shift_init(void) {
  const uint32_t x64 = gf_xpow(64);
  shift_k[1] = gf_xpow(64 - 33);
  for (size_t j = 2; j <= SHIFT_MAX; j++) shift_k[j] = gf_mul(shift_k[j - 1], x64);
}

__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p, size_t n) {
  while (n && ((uintptr_t)p & 7)) {
    c = _mm_crc32_u8(c, *p++);
    n--;
  }
  uint64_t c64 = c;
  while (n >= 8) {
    c64 = _mm_crc32_u64(c64, load64le(p));
    p += 8;
    n -= 8;
  }
  c = (uint32_t)c64;
  while (n--) c = _mm_crc32_u8(c, *p++);
  return c;
}

// r * x^(8 * 8j) mod P, k = shift_k[j].
__attribute__((target("sse4.2,pclmul"))) static inline uint32_t shift_by(uint32_t r, uint32_t k) {
  __m128i prod = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)r), _mm_cvtsi32_si128((int)k), 0x00);
  return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(prod));
}

// STREAMS streams over adjacent blocks of `words` 8-byte words each, then combined.
__attribute__((target("sse4.2,pclmul"))) static inline uint32_t crc_streams(uint32_t c, const uint8_t *p,
                                                                            size_t words) {
  const size_t len = words * 8;
  uint64_t s[STREAMS];
  s[0] = c;
  for (int j = 1; j < STREAMS; j++) s[j] = 0;
  for (size_t i = 0; i < len; i += 8) {
#pragma GCC unroll 8
    for (int j = 0; j < STREAMS; j++) s[j] = _mm_crc32_u64(s[j], load64le(p + j * len + i));
  }
  uint32_t r = (uint32_t)s[STREAMS - 1];
#pragma GCC unroll 8
  for (int j = 0; j < STREAMS - 1; j++) r ^= shift_by((uint32_t)s[j], shift_k[(STREAMS - 1 - j) * words]);
  return r;
}

__attribute__((target("sse4.2,pclmul"))) static uint32_t crc_pclmul(uint32_t c, const uint8_t *p, size_t n) {
  if (n < MIN_SPLIT) return crc_sse42(c, p, n);
  while (((uintptr_t)p & 7)) {
    c = _mm_crc32_u8(c, *p++);
    n--;
  }
  while (n >= STREAMS * BLOCK) {
    c = crc_streams(c, p, BLOCK / 8);
    p += STREAMS * BLOCK;
    n -= STREAMS * BLOCK;
  }
  const size_t words = n / (8 * STREAMS);
  if (words > 0) {
    c = crc_streams(c, p, words);
    p += STREAMS * 8 * words;
    n -= STREAMS * 8 * words;
  }
  return crc_sse42(c, p, n);
}

static int cpu_has(int sse42, int pclmul) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  return (!sse42 || (c & bit_SSE4_2)) && (!pclmul || (c & bit_PCLMUL));
}
#endif

// --- selection and the N-API binding ---------------------------------------------

typedef uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);
static crc_fn crc_raw = crc_table;
static const char *impl_name = "table";

static void select_impl(void) {
  tab_init();
#ifdef CRC_X86
  if (cpu_has(1, 1)) {
    shift_init();
    crc_raw = crc_pclmul;
    impl_name = "pclmul";
  } else if (cpu_has(1, 0)) {
    crc_raw = crc_sse42;
    impl_name = "sse4.2";
  }
#endif
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

// update(crc: number, buf: Uint8Array, start: number, end: number): number (int32).
// Returns the CRC as a signed 32-bit value (stays a small integer in V8); callers
// apply >>> 0. The function's data is the crc_fn it runs.
static napi_value update(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  void *fn;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &fn) != napi_ok || argc < 4)
    return fail(env, "crc32c update: expected (crc, buf, start, end)");
  uint32_t crc;
  int64_t start, end;
  napi_typedarray_type type;
  size_t len;
  void *data;
  if (napi_get_value_uint32(env, argv[0], &crc) != napi_ok) return fail(env, "crc32c update: crc is not a number");
  if (napi_get_typedarray_info(env, argv[1], &type, &len, &data, NULL, NULL) != napi_ok ||
      (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array))
    return fail(env, "crc32c update: buf is not a Uint8Array");
  if (napi_get_value_int64(env, argv[2], &start) != napi_ok || napi_get_value_int64(env, argv[3], &end) != napi_ok)
    return fail(env, "crc32c update: start/end are not numbers");
  if (start < 0 || end < start || (uint64_t)end > len) return fail(env, "crc32c update: range outside the buffer");
  uint32_t r = ~((crc_fn)fn)(~crc, (const uint8_t *)data + start, (size_t)(end - start));
  napi_value out;
  napi_create_int32(env, (int32_t)r, &out);
  return out;
}

static void put_update(napi_env env, napi_value obj, const char *name, crc_fn f) {
  napi_value fn;
  napi_create_function(env, "update", NAPI_AUTO_LENGTH, update, (void *)f, &fn);
  napi_set_named_property(env, obj, name, fn);
}

// exports: update (the best path), implementation (its name), and variants: an
// update per path this CPU runs, so tests can hold each against the others.
NAPI_MODULE_INIT() {
  // Worker threads load the addon again: fill the tables once, the others wait for
  // it (microseconds). Atomics rather than pthread_once, which glibc 2.34 moved and
  // versioned: the prebuilt binary must load on older systems too.
#if defined(__GNUC__) || defined(__clang__)
  static int state; // 0 not started, 1 filling, 2 done
  int expected = 0;
  if (__atomic_compare_exchange_n(&state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    select_impl();
    __atomic_store_n(&state, 2, __ATOMIC_RELEASE);
  } else {
    while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != 2) {
    }
  }
#else
  select_impl(); // untested compilers: the tables come out the same on every call
#endif
  napi_value name, variants;
  put_update(env, exports, "update", crc_raw);
  napi_create_string_utf8(env, impl_name, NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, exports, "implementation", name);
  napi_create_object(env, &variants);
  put_update(env, variants, "table", crc_table);
#ifdef CRC_X86
  if (crc_raw != crc_table) put_update(env, variants, "sse4.2", crc_sse42);
  if (crc_raw == crc_pclmul) put_update(env, variants, "pclmul", crc_pclmul);
#endif
  napi_set_named_property(env, exports, "variants", variants);
  return exports;
}
