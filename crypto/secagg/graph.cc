#include "crypto/secagg/graph.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/util/status_macros.h"
#include "crypto/hkdf.h"
#include "crypto/prg.h"
#include "crypto/secagg/transcript.h"
#include "crypto/secret_data.h"

namespace cohort::secagg {
namespace {

constexpr size_t kMinGraphSeedSize = 16;

// Uniform integers below a bound from an AES-CTR stream, by rejection (no
// modulo bias).
class UniformSource {
 public:
  explicit UniformSource(std::unique_ptr<crypto::AesCtrPrg> prg) : prg_(std::move(prg)) {}

  absl::StatusOr<uint64_t> Below(uint64_t bound) {
    // 2^64 mod bound: words below it would favour small results.
    const uint64_t reject_below = (0 - bound) % bound;
    while (true) {
      if (next_ == buffer_.size()) {
        RETURN_IF_ERROR(prg_->Expand(absl::MakeSpan(buffer_), 64));
        next_ = 0;
      }
      uint64_t word = buffer_[next_++];
      if (word >= reject_below) return word % bound;
    }
  }

 private:
  std::unique_ptr<crypto::AesCtrPrg> prg_;
  std::vector<uint64_t> buffer_ = std::vector<uint64_t>(64);
  size_t next_ = 64;
};

}  // namespace

absl::StatusOr<NeighbourGraph> NeighbourGraph::Create(int n, int degree,
                                                      absl::string_view graph_seed) {
  if (n < 2) return absl::InvalidArgumentError(absl::StrCat("graph of ", n, " nodes: need >= 2"));
  if (degree < 1) {
    return absl::InvalidArgumentError(absl::StrCat("graph degree ", degree, ": need >= 1"));
  }
  if (graph_seed.size() < kMinGraphSeedSize) {
    return absl::InvalidArgumentError(absl::StrCat("graph seed of ", graph_seed.size(),
                                                   " bytes: need >= ", kMinGraphSeedSize));
  }
  const int even_degree = degree + (degree % 2);
  std::vector<std::vector<int>> neighbours(n);
  if (even_degree >= n - 1) {
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        if (j != i) neighbours[i].push_back(j);
      }
    }
    return NeighbourGraph(n - 1, std::move(neighbours));
  }

  // The same seed gives the same order for the same (n, degree) only.
  Transcript info("cohort/secagg/v1/graph-permutation");
  info.AddInt(n).AddInt(even_degree);
  ASSIGN_OR_RETURN(crypto::SecretData key,
                   crypto::HkdfSha256(crypto::SecretData::FromBytes(graph_seed), "",
                                      info.bytes(), crypto::kPrgSeedSize));
  ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesCtrPrg> prg, crypto::AesCtrPrg::New(key));
  UniformSource uniform(std::move(prg));

  std::vector<int> order(n);  // order[position] = node
  std::iota(order.begin(), order.end(), 0);
  for (int i = n - 1; i > 0; --i) {
    ASSIGN_OR_RETURN(uint64_t j, uniform.Below(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[static_cast<int>(j)]);
  }
  const int half = even_degree / 2;
  for (int p = 0; p < n; ++p) {
    for (int d = 1; d <= half; ++d) {
      neighbours[order[p]].push_back(order[(p + d) % n]);
      neighbours[order[p]].push_back(order[(p - d + n) % n]);
    }
  }
  // k < n - 1 keeps the k/2 nodes on each side distinct, so no duplicates.
  for (std::vector<int>& list : neighbours) std::sort(list.begin(), list.end());
  return NeighbourGraph(even_degree, std::move(neighbours));
}

bool NeighbourGraph::AreNeighbours(int i, int j) const {
  if (i < 0 || i >= size() || j < 0 || j >= size()) return false;
  return std::binary_search(neighbours_[i].begin(), neighbours_[i].end(), j);
}

}  // namespace cohort::secagg
