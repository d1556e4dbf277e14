// Property test: for random n (2..40), degree, threshold t, modulus bits and
// dropout patterns, a round either unmasks exactly the plain sum of its
// survivors, or aborts without output, and which of the two happens matches
// an independent model of the protocol's threshold rules (drawn from the
// graph alone, not from the server's bookkeeping).
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "crypto/secagg/graph.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "tests/crypto/secagg/protocol_harness.h"

namespace cohort::secagg {
namespace {

using ::cohort::secagg::testing::ContextOptions;
using ::cohort::secagg::testing::MakeContext;
using ::cohort::secagg::testing::TestPki;
using ::cohort::secagg::testing::TestRound;
using ::testing::ElementsAreArray;

// Sites silent from a phase on (phase 4: never).
using SilentFrom = std::vector<int>;

struct Prediction {
  bool aborts = false;
  int abort_phase = -1;
  std::vector<int> survivors;
};

// The protocol's rules restated on the graph: t-core pruning after phases 0
// and 1, then the per-neighbourhood share counts of phases 2 and 3.
Prediction Predict(const NeighbourGraph& g, int t, const SilentFrom& silent) {
  const int n = g.size();
  auto core = [&](std::set<int> live) {
    bool changed = true;
    while (changed) {
      changed = false;
      for (auto it = live.begin(); it != live.end();) {
        int alive = 1;
        for (int j : g.Neighbours(*it)) alive += live.contains(j) ? 1 : 0;
        if (alive < t) {
          it = live.erase(it);
          changed = true;
        } else {
          ++it;
        }
      }
    }
    return live;
  };
  auto abort_at = [](int phase) { return Prediction{true, phase, {}}; };
  std::set<int> live;
  for (int i = 0; i < n; ++i) {
    if (silent[i] > 0) live.insert(i);
  }
  live = core(live);
  if (static_cast<int>(live.size()) < t) return abort_at(0);
  std::set<int> shared;
  for (int i : live) {
    if (silent[i] > 1) shared.insert(i);
  }
  shared = core(shared);
  if (static_cast<int>(shared.size()) < t) return abort_at(1);
  std::set<int> survivors, needed;
  for (int i : shared) {
    if (silent[i] > 2) survivors.insert(i);
  }
  if (static_cast<int>(survivors.size()) < t) return abort_at(2);
  auto count_in = [&](int i, const std::set<int>& set) {
    int k = 0;
    for (int j : g.Neighbours(i)) k += set.contains(j) ? 1 : 0;
    return k;
  };
  for (int i : survivors) {
    if (1 + count_in(i, survivors) < t) return abort_at(2);
  }
  for (int d : shared) {
    if (survivors.contains(d)) continue;
    int holders = count_in(d, survivors);
    if (holders > 0) needed.insert(d);
    if (holders > 0 && holders < t) return abort_at(2);
  }
  std::set<int> responders;
  for (int i : survivors) {
    if (silent[i] > 3) responders.insert(i);
  }
  for (int i : survivors) {
    if ((responders.contains(i) ? 1 : 0) + count_in(i, responders) < t) return abort_at(3);
  }
  for (int d : needed) {
    if (count_in(d, responders) < t) return abort_at(3);
  }
  return Prediction{false, -1, std::vector<int>(survivors.begin(), survivors.end())};
}

TEST(SecAggPropertyTest, RandomRoundsSumExactlyOrAbortAsPredicted) {
  TestPki::Get();
  // Drops and aborts are logged as warnings; keep the output readable.
  const spdlog::level::level_enum level = spdlog::get_level();
  spdlog::set_level(spdlog::level::err);
  std::mt19937_64 rng(20261129);
  auto uniform = [&](int lo, int hi) {  // inclusive
    return lo + static_cast<int>(rng() % static_cast<uint64_t>(hi - lo + 1));
  };
  constexpr int kCases = 30;
  int completed = 0, aborted = 0, with_dropouts = 0;
  for (int c = 0; c < kCases; ++c) {
    ContextOptions o;
    // Mostly small studies, a few up to 40 sites.
    o.n = c % 5 == 4 ? uniform(20, 40) : uniform(2, 14);
    o.degree = uniform(1, o.n);
    o.graph_seed = rng();
    o.bits = uniform(1, 64);
    o.vector_length = uniform(1, 6);
    const std::string seed_bytes = MakeContext(o).graph_seed();
    NeighbourGraph graph = NeighbourGraph::Create(o.n, o.degree, seed_bytes).value();
    o.threshold = uniform(2, graph.degree() + 1);

    // One case in three has no dropouts; otherwise each site falls silent
    // from a random phase with probability ~1/8 (a bit more in small rounds).
    SilentFrom silent(o.n, 4);
    if (c % 3 != 0) {
      for (int i = 0; i < o.n; ++i) {
        if (uniform(0, 7) == 0) silent[i] = uniform(0, 3);
      }
    }
    const Prediction predicted = Predict(graph, o.threshold, silent);
    SCOPED_TRACE(absl::StrCat("case ", c, ": n=", o.n, " degree=", o.degree, " (", graph.degree(),
                              ") t=", o.threshold, " bits=", o.bits,
                              " length=", o.vector_length,
                              " predicted=", predicted.aborts ? "abort" : "sum"));

    TestRound round(MakeContext(o), 1000 + c);
    bool any_silent = false;
    for (int i = 0; i < o.n; ++i) {
      if (silent[i] < 4) {
        round.SilenceFrom(static_cast<v1::SecAggPhase>(silent[i]), round.sites()[i]);
        any_silent = true;
      }
    }
    with_dropouts += any_silent ? 1 : 0;
    absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
    // No client ever refuses an honest server's request.
    for (const auto& [site, status] : round.client_errors) ADD_FAILURE() << site << ": " << status;
    if (predicted.aborts) {
      ++aborted;
      EXPECT_FALSE(sum.ok());
      EXPECT_TRUE(round.server().aborted());
      // Aborted before phase 3: not one share was asked for.
      if (predicted.abort_phase < 3) {
        EXPECT_EQ(round.unmask_requests_delivered, 0);
      }
      continue;
    }
    ++completed;
    ASSERT_TRUE(sum.ok()) << sum.status();
    std::vector<std::string> survivors;
    for (int i : predicted.survivors) survivors.push_back(round.sites()[i]);
    EXPECT_THAT(round.server().survivors(), ElementsAreArray(survivors));
    EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(survivors)));
  }
  spdlog::set_level(level);
  // The generator exercised both outcomes and dropouts.
  EXPECT_GT(completed, kCases / 2);
  EXPECT_GT(with_dropouts, 0);
  RecordProperty("completed", completed);
  RecordProperty("aborted", aborted);
}

}  // namespace
}  // namespace cohort::secagg
