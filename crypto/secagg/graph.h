// The SecAgg+ neighbour graph (Bell et al., "Secure Single-Server Aggregation
// with (Poly)Logarithmic Overhead", CCS 2020): which sites exchange pairwise
// masks and hold each other's secret shares.
//
// Construction (a Harary-style circulant graph on a pseudorandom relabelling):
// the n participants are put in a pseudorandom order derived from
// `graph_seed` (HKDF-SHA256 of the seed keys an AES-CTR PRG, which drives an
// unbiased Fisher-Yates shuffle); each site is then joined to the k/2 sites
// before and after it in that cyclic order, where k is the requested degree
// rounded up to an even number. When k >= n - 1 the graph is complete (the
// original protocol of Bonawitz et al. 2017). Every party derives the same
// graph from (n, degree, graph_seed) alone; see docs/secure-aggregation.md.
//
// Security: the graph is public. Its randomness matters only in that sites
// must not be able to choose their neighbours; the coordinator picks the
// seed, which the honest-but-curious model allows.
//
// Thread-safety: immutable after Create; safe to share.
#ifndef COHORT_CRYPTO_SECAGG_GRAPH_H_
#define COHORT_CRYPTO_SECAGG_GRAPH_H_

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cohort::secagg {

class NeighbourGraph {
 public:
  // InvalidArgument if n < 2, degree < 1, or graph_seed is shorter than 16
  // bytes; Internal if the PRG fails.
  static absl::StatusOr<NeighbourGraph> Create(int n, int degree, absl::string_view graph_seed);

  int size() const { return static_cast<int>(neighbours_.size()); }
  // Neighbours per node: n - 1 when complete, else the even rounded degree.
  int degree() const { return degree_; }
  bool complete() const { return degree_ == size() - 1; }

  // Node i's neighbours (never i itself), ascending. 0 <= i < size().
  const std::vector<int>& Neighbours(int i) const { return neighbours_[i]; }
  bool AreNeighbours(int i, int j) const;

 private:
  NeighbourGraph(int degree, std::vector<std::vector<int>> neighbours)
      : degree_(degree), neighbours_(std::move(neighbours)) {}

  int degree_;
  std::vector<std::vector<int>> neighbours_;
};

}  // namespace cohort::secagg

#endif  // COHORT_CRYPTO_SECAGG_GRAPH_H_
