// An unambiguous byte encoding of a list of fields, for everything Cohort's
// secure aggregation signs, authenticates as associated data, or feeds to
// HKDF as `info`: a domain label, then each field as an 8-byte big-endian
// length followed by its bytes. Two different field lists never encode to the
// same bytes, and the label keeps encodings of different purposes apart.
// See docs/secure-aggregation.md ("Binding").
//
// Not thread-safe; a value type.
#ifndef COHORT_CRYPTO_SECAGG_TRANSCRIPT_H_
#define COHORT_CRYPTO_SECAGG_TRANSCRIPT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace cohort::secagg {

class Transcript {
 public:
  explicit Transcript(absl::string_view label) { Add(label); }

  Transcript& Add(absl::string_view field) {
    AppendU64(field.size());
    bytes_.append(field.data(), field.size());
    return *this;
  }
  // An integer, as an 8-byte field.
  Transcript& AddInt(int64_t value) {
    AppendU64(8);
    AppendU64(static_cast<uint64_t>(value));
    return *this;
  }

  const std::string& bytes() const { return bytes_; }

 private:
  void AppendU64(uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      bytes_.push_back(static_cast<char>((v >> shift) & 0xff));
    }
  }

  std::string bytes_;
};

}  // namespace cohort::secagg

#endif  // COHORT_CRYPTO_SECAGG_TRANSCRIPT_H_
