// SHA-256 (FIPS 180-4) over strings, streams and files, on OpenSSL's EVP API.
//
// Cohort uses these digests to pin content, not to authenticate it: a
// hospital approves a study plan by its hash (`cohort study hash`), and data
// manifests list file hashes. The digest is over the exact bytes; nothing is
// normalised first.
//
// Failure policy: computing SHA-256 with OpenSSL's default provider can fail
// only on allocation failure or a broken OpenSSL installation, so the
// in-memory functions abort with a message in that case rather than make every
// caller handle an error that cannot be acted on. Reading a file can fail for
// ordinary reasons and returns a Status.
#ifndef COHORT_CRYPTO_SHA256_H_
#define COHORT_CRYPTO_SHA256_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/openssl_ptr.h"

namespace cohort::crypto {

inline constexpr size_t kSha256DigestSize = 32;

// The 32-byte SHA-256 digest of `data`.
std::array<uint8_t, kSha256DigestSize> Sha256(absl::string_view data);

// The SHA-256 digest of `data` as 64 lowercase hex characters (the format
// printed by sha256sum).
std::string Sha256Hex(absl::string_view data);

// The lowercase hex SHA-256 of the bytes of the file at `path`, read in
// chunks so large blobs need not fit in memory.
// Returns NotFound / PermissionDenied / another errno-derived code, with a
// message naming `path`, if the file cannot be opened or read.
absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path);

// Incremental SHA-256 for data that arrives in pieces:
//
//   Sha256Hasher hasher;
//   while (...) hasher.Update(chunk);
//   std::string hex = hasher.FinalHex();
//
// Finalising resets the hasher, so it can be reused for another message.
// Ownership: owns its EVP_MD_CTX. Movable, not copyable.
// Thread-safety: not thread-safe; use one hasher per thread.
class Sha256Hasher {
 public:
  Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) = default;
  Sha256Hasher& operator=(Sha256Hasher&&) = default;
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  // Appends `data` to the message being hashed.
  void Update(absl::string_view data);

  // Returns the digest of everything passed to Update() since construction or
  // the previous Final*() call, then resets.
  std::array<uint8_t, kSha256DigestSize> Final();
  std::string FinalHex();

 private:
  void Reset();

  EvpMdCtxPtr ctx_;
};

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_SHA256_H_
