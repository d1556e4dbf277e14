// Secret bytes (keys, seeds, shared secrets) in a type that wipes its memory
// when destroyed and compares in constant time.
//
// Security: the buffer is cleansed with OPENSSL_cleanse on destruction and on
// reassignment, and equality uses CRYPTO_memcmp so comparing a guess with a
// secret leaks nothing through timing. Copies are explicit (Copy()), so a
// secret is not duplicated by accident. Not thread-safe; movable.
#ifndef COHORT_CRYPTO_SECRET_DATA_H_
#define COHORT_CRYPTO_SECRET_DATA_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cohort::crypto {

class SecretData {
 public:
  SecretData() = default;
  explicit SecretData(size_t size);  // zero-filled
  static SecretData FromBytes(absl::string_view bytes);
  static SecretData FromSpan(absl::Span<const uint8_t> bytes);
  ~SecretData();

  SecretData(SecretData&& other) noexcept;
  SecretData& operator=(SecretData&& other) noexcept;
  SecretData(const SecretData&) = delete;
  SecretData& operator=(const SecretData&) = delete;

  SecretData Copy() const;

  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  absl::Span<const uint8_t> span() const { return bytes_; }
  absl::Span<uint8_t> mutable_span() { return absl::MakeSpan(bytes_); }
  absl::string_view view() const {
    return absl::string_view(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
  }

  // Constant-time in the contents (sizes are not secret).
  bool operator==(const SecretData& other) const;
  bool operator!=(const SecretData& other) const { return !(*this == other); }

 private:
  void Wipe();
  std::vector<uint8_t> bytes_;
};

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_SECRET_DATA_H_
