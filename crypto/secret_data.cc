#include "crypto/secret_data.h"

#include <openssl/crypto.h>

#include <cstring>
#include <utility>

namespace cohort::crypto {

SecretData::SecretData(size_t size) : bytes_(size, 0) {}

SecretData SecretData::FromBytes(absl::string_view bytes) {
  SecretData out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.bytes_.data(), bytes.data(), bytes.size());
  return out;
}

SecretData SecretData::FromSpan(absl::Span<const uint8_t> bytes) {
  SecretData out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.bytes_.data(), bytes.data(), bytes.size());
  return out;
}

SecretData::~SecretData() { Wipe(); }

// A moved vector hands over its buffer, so no copy of the secret is left
// behind; clear() makes the "moved-from is empty" guarantee explicit.
SecretData::SecretData(SecretData&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.bytes_.clear();
}

SecretData& SecretData::operator=(SecretData&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

SecretData SecretData::Copy() const { return FromSpan(bytes_); }

bool SecretData::operator==(const SecretData& other) const {
  if (bytes_.size() != other.bytes_.size()) return false;
  if (bytes_.empty()) return true;
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

// The buffer never grows after construction (no resize through the public
// API), so the bytes in [0, size) are the only copy of the secret.
void SecretData::Wipe() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

}  // namespace cohort::crypto
