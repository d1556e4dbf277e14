// A uniform random bit generator (for absl distributions and the discrete
// Gaussian sampler) drawing from a cryptographically secure SecurePrng, so
// that DP noise cannot be predicted from earlier outputs the way a seeded
// Mersenne Twister's could.
//
// Buffers 4 KiB of the PRNG's output at a time. A PRNG failure is fatal: a
// site must never release a value with noise from a broken generator.
//
// Not thread-safe; the PRNG is not owned and must outlive the generator.
#ifndef COHORT_SITE_AGENT_SECURE_BIT_GEN_H_
#define COHORT_SITE_AGENT_SECURE_BIT_GEN_H_

#include <array>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "crypto/random.h"

namespace cohort::site {

class SecureBitGen {
 public:
  using result_type = uint64_t;
  explicit SecureBitGen(crypto::SecurePrng* prng) : prng_(prng) {}

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

  result_type operator()() {
    if (next_ == buffer_.size()) Refill();
    return buffer_[next_++];
  }

 private:
  void Refill() {
    auto bytes = absl::Span<uint8_t>(reinterpret_cast<uint8_t*>(buffer_.data()),
                                     buffer_.size() * sizeof(result_type));
    if (!prng_->Fill(bytes).ok()) std::abort();
    next_ = 0;
  }

  crypto::SecurePrng* prng_;
  std::array<result_type, 512> buffer_{};
  size_t next_ = 512;
};

}  // namespace cohort::site

#endif  // COHORT_SITE_AGENT_SECURE_BIT_GEN_H_
