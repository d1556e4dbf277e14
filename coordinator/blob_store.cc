#include "coordinator/blob_store.h"

#include "crypto/sha256.h"

namespace cohort::coordinator {

v1::BlobRef BlobStore::Put(std::string bytes) {
  v1::BlobRef ref;
  ref.set_sha256(crypto::Sha256Hex(bytes));
  ref.set_size_bytes(static_cast<int64_t>(bytes.size()));
  absl::MutexLock lock(&mu_);
  if (!blobs_.contains(ref.sha256())) {
    blobs_.emplace(ref.sha256(), std::make_shared<const std::string>(std::move(bytes)));
  }
  return ref;
}

std::shared_ptr<const std::string> BlobStore::Get(absl::string_view sha256) const {
  absl::MutexLock lock(&mu_);
  auto it = blobs_.find(sha256);
  return it == blobs_.end() ? nullptr : it->second;
}

void BlobStore::Erase(absl::string_view sha256) {
  absl::MutexLock lock(&mu_);
  auto it = blobs_.find(sha256);
  if (it != blobs_.end()) blobs_.erase(it);
}

size_t BlobStore::size() const {
  absl::MutexLock lock(&mu_);
  return blobs_.size();
}

}  // namespace cohort::coordinator
