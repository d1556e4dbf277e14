// Content-addressed, in-memory store of the blobs sites download (models).
//
// A blob is named by the SHA-256 of its bytes, so a site verifies what it
// fetched and never downloads the same model twice. Thread-safe.
#ifndef COHORT_COORDINATOR_BLOB_STORE_H_
#define COHORT_COORDINATOR_BLOB_STORE_H_

#include <map>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "cohort/v1/tasks.pb.h"

namespace cohort::coordinator {

class BlobStore {
 public:
  // Stores `bytes` (no-op if already present) and returns its reference.
  v1::BlobRef Put(std::string bytes);
  // The blob, or nullptr if unknown.
  std::shared_ptr<const std::string> Get(absl::string_view sha256) const;
  void Erase(absl::string_view sha256);
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const std::string>, std::less<>> blobs_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace cohort::coordinator

#endif  // COHORT_COORDINATOR_BLOB_STORE_H_
