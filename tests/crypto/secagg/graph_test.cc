// The SecAgg+ neighbour graph: symmetric, the right degree everywhere,
// complete for small studies, deterministic in its seed and different across
// seeds.
#include "crypto/secagg/graph.h"

#include <algorithm>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::secagg {
namespace {

const std::string kSeed(32, 'g');

struct GraphCase {
  int n;
  int degree;
  int expected_degree;
};

class NeighbourGraphTest : public ::testing::TestWithParam<GraphCase> {};

TEST_P(NeighbourGraphTest, SymmetricWithTheRightDegreeAndConnected) {
  const GraphCase c = GetParam();
  absl::StatusOr<NeighbourGraph> graph = NeighbourGraph::Create(c.n, c.degree, kSeed);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->size(), c.n);
  EXPECT_EQ(graph->degree(), c.expected_degree);
  EXPECT_EQ(graph->complete(), c.expected_degree == c.n - 1);
  for (int i = 0; i < c.n; ++i) {
    const std::vector<int>& nbrs = graph->Neighbours(i);
    EXPECT_EQ(static_cast<int>(nbrs.size()), c.expected_degree) << "node " << i;
    EXPECT_TRUE(std::is_sorted(nbrs.begin(), nbrs.end()));
    EXPECT_EQ(std::set<int>(nbrs.begin(), nbrs.end()).size(), nbrs.size()) << "duplicates";
    for (int j : nbrs) {
      EXPECT_NE(i, j) << "self loop";
      EXPECT_TRUE(graph->AreNeighbours(j, i)) << i << " - " << j << " is one-sided";
      EXPECT_TRUE(graph->AreNeighbours(i, j));
    }
  }
  // Connected (a circulant graph of degree >= 2 contains a Hamiltonian cycle).
  std::vector<bool> seen(c.n, false);
  std::queue<int> queue;
  queue.push(0);
  seen[0] = true;
  int reached = 1;
  while (!queue.empty()) {
    int i = queue.front();
    queue.pop();
    for (int j : graph->Neighbours(i)) {
      if (!seen[j]) {
        seen[j] = true;
        ++reached;
        queue.push(j);
      }
    }
  }
  EXPECT_EQ(reached, c.n);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, NeighbourGraphTest,
    ::testing::Values(GraphCase{2, 1, 1}, GraphCase{3, 1, 2}, GraphCase{3, 2, 2},
                      GraphCase{5, 3, 4},     // odd degree rounds up; 4 = n - 1: complete
                      GraphCase{5, 4, 4}, GraphCase{5, 100, 4}, GraphCase{6, 4, 4},
                      GraphCase{6, 5, 5},     // complete
                      GraphCase{8, 2, 2},     // a ring
                      GraphCase{10, 3, 4},    // rounded up to 4
                      GraphCase{40, 6, 6}, GraphCase{101, 10, 10}, GraphCase{128, 16, 16}),
    [](const ::testing::TestParamInfo<GraphCase>& info) {
      return absl::StrCat("n", info.param.n, "_d", info.param.degree);
    });

TEST(NeighbourGraphTest, CompleteWhenTheDegreeCoversEveryone) {
  for (int n = 2; n <= 12; ++n) {
    absl::StatusOr<NeighbourGraph> graph = NeighbourGraph::Create(n, n - 1, kSeed);
    ASSERT_TRUE(graph.ok());
    EXPECT_TRUE(graph->complete()) << n;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) EXPECT_EQ(graph->AreNeighbours(i, j), i != j);
    }
  }
}

TEST(NeighbourGraphTest, DeterministicInTheSeedAndDifferentAcrossSeeds) {
  auto edges = [](const std::string& seed) {
    NeighbourGraph g = NeighbourGraph::Create(30, 4, seed).value();
    std::vector<std::vector<int>> out;
    for (int i = 0; i < g.size(); ++i) out.push_back(g.Neighbours(i));
    return out;
  };
  EXPECT_EQ(edges(kSeed), edges(kSeed));
  EXPECT_NE(edges(kSeed), edges(std::string(32, 'h')));
  // Not the identity order: the graph is not the plain ring i +- 1, i +- 2.
  std::vector<std::vector<int>> g = edges(kSeed);
  int ring_like = 0;
  for (int i = 0; i < 30; ++i) {
    std::vector<int> ring = {(i + 28) % 30, (i + 29) % 30, (i + 1) % 30, (i + 2) % 30};
    std::sort(ring.begin(), ring.end());
    ring_like += g[i] == ring ? 1 : 0;
  }
  EXPECT_LT(ring_like, 30);
}

TEST(NeighbourGraphTest, RejectsBadParameters) {
  EXPECT_EQ(NeighbourGraph::Create(1, 1, kSeed).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NeighbourGraph::Create(5, 0, kSeed).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NeighbourGraph::Create(5, 2, "short").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::secagg
