// HKDF with SHA-256 (RFC 5869), through OpenSSL 3's EVP_KDF "HKDF".
#ifndef COHORT_CRYPTO_HKDF_H_
#define COHORT_CRYPTO_HKDF_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/secret_data.h"

namespace cohort::crypto {

// Extract-then-expand. InvalidArgument if `length` is 0 or above 255 * 32.
absl::StatusOr<SecretData> HkdfSha256(const SecretData& ikm, absl::string_view salt,
                                      absl::string_view info, size_t length);

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_HKDF_H_
