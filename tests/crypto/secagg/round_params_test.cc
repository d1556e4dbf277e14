// Context validation, and the context digest that binds every message to its
// study, round, attempt and parameters.
#include "crypto/secagg/round_params.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cohort/v1/secagg.pb.h"
#include "crypto/secagg/fault.h"
#include "crypto/secagg/transcript.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::secagg {
namespace {

using ::testing::HasSubstr;

v1::SecAggContext Valid() {
  v1::SecAggContext c;
  c.set_study_id("heart");
  c.set_round(3);
  c.set_attempt(0);
  for (const char* site : {"cleveland", "hungary", "switzerland", "va"}) c.add_participants(site);
  c.set_threshold(3);
  c.set_degree(3);
  c.set_bits(32);
  c.set_vector_length(10);
  c.set_graph_seed(std::string(16, 's'));
  return c;
}

TEST(RoundParamsTest, AcceptsAValidContext) {
  absl::StatusOr<std::shared_ptr<const RoundParams>> p = RoundParams::Create(Valid());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->size(), 4);
  EXPECT_EQ((*p)->IndexOf("hungary"), 1);
  EXPECT_EQ((*p)->IndexOf("nowhere"), std::nullopt);
  EXPECT_EQ((*p)->value_mask(), 0xffffffffu);
  EXPECT_EQ((*p)->digest().size(), 32u);
  EXPECT_TRUE((*p)->graph().complete());
}

struct BadCase {
  std::string name;
  std::function<void(v1::SecAggContext&)> edit;
  std::string field;
};

TEST(RoundParamsTest, RejectsEachBadField) {
  const std::vector<BadCase> cases = {
      {"no study", [](auto& c) { c.clear_study_id(); }, "study_id"},
      {"negative round", [](auto& c) { c.set_round(-1); }, "round"},
      {"negative attempt", [](auto& c) { c.set_attempt(-1); }, "attempt"},
      {"one site", [](auto& c) { c.mutable_participants()->DeleteSubrange(1, 3); },
       "participants"},
      {"unsorted", [](auto& c) { c.mutable_participants()->SwapElements(0, 1); }, "participants"},
      {"duplicate", [](auto& c) { c.set_participants(1, "cleveland"); }, "participants"},
      {"bad name", [](auto& c) { c.set_participants(0, "Cleveland Clinic"); }, "participants"},
      {"bits 0", [](auto& c) { c.set_bits(0); }, "bits"},
      {"bits 65", [](auto& c) { c.set_bits(65); }, "bits"},
      {"empty vector", [](auto& c) { c.set_vector_length(0); }, "vector_length"},
      {"degree 0", [](auto& c) { c.set_degree(0); }, "degree"},
      {"short seed", [](auto& c) { c.set_graph_seed("seed"); }, "graph_seed"},
      {"threshold 1", [](auto& c) { c.set_threshold(1); }, "threshold"},
      // Complete graph on 4: neighbourhoods of 4.
      {"threshold 5", [](auto& c) { c.set_threshold(5); }, "threshold"},
      // 8 sites, degree 2: neighbourhoods of 3.
      {"threshold above sparse neighbourhood",
       [](auto& c) {
         for (const char* s : {"w1", "w2", "w3", "w4"}) c.add_participants(s);
         c.set_degree(2);
         c.set_threshold(4);
       },
       "threshold"},
  };
  for (const BadCase& bad : cases) {
    v1::SecAggContext c = Valid();
    bad.edit(c);
    absl::StatusOr<std::shared_ptr<const RoundParams>> p = RoundParams::Create(c);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad.name;
    EXPECT_THAT(p.status().message(), HasSubstr(bad.field)) << bad.name;
  }
}

TEST(RoundParamsTest, ThresholdMayEqualTheNeighbourhoodSize) {
  v1::SecAggContext c = Valid();
  c.set_threshold(4);  // every site of the complete graph on 4
  EXPECT_TRUE(RoundParams::Create(c).ok());
}

TEST(RoundParamsTest, EveryContextFieldChangesTheDigest) {
  const std::string base = ContextDigest(Valid());
  const std::vector<std::function<void(v1::SecAggContext&)>> edits = {
      [](auto& c) { c.set_study_id("heart2"); },
      [](auto& c) { c.set_round(4); },
      [](auto& c) { c.set_attempt(1); },
      [](auto& c) { c.set_participants(3, "vb"); },
      [](auto& c) { c.add_participants("zurich"); },
      [](auto& c) { c.set_threshold(2); },
      [](auto& c) { c.set_degree(2); },
      [](auto& c) { c.set_bits(31); },
      [](auto& c) { c.set_vector_length(11); },
      [](auto& c) { c.set_graph_seed(std::string(16, 't')); },
  };
  for (size_t k = 0; k < edits.size(); ++k) {
    v1::SecAggContext c = Valid();
    edits[k](c);
    EXPECT_NE(ContextDigest(c), base) << "edit " << k;
  }
  EXPECT_EQ(ContextDigest(Valid()), base);
}

TEST(RoundParamsTest, BindingsSeparateSitesDirectionsAndPurposes) {
  std::shared_ptr<const RoundParams> p = RoundParams::Create(Valid()).value();
  EXPECT_NE(p->ShareAssociatedData("cleveland", "hungary"),
            p->ShareAssociatedData("hungary", "cleveland"));
  EXPECT_NE(p->AdvertisementBytes("cleveland", "k1", "k2"),
            p->AdvertisementBytes("cleveland", "k2", "k1"));
  // Length prefixes: moving a byte between fields changes the encoding.
  EXPECT_NE(Transcript("x").Add("ab").Add("c").bytes(), Transcript("x").Add("a").Add("bc").bytes());
  EXPECT_NE(Transcript("x").Add("a").bytes(), Transcript("y").Add("a").bytes());
}

TEST(FaultTest, CarriesTheReason) {
  absl::Status s = Fault(v1::BAD_CIPHERTEXT, "nope");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(DropReasonOf(s), v1::BAD_CIPHERTEXT);
  EXPECT_EQ(Fault(v1::MALFORMED, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Fault(v1::TOO_FEW_SURVIVORS, "x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DropReasonOf(absl::InternalError("plain")), v1::DROP_REASON_UNSPECIFIED);
}

}  // namespace
}  // namespace cohort::secagg

namespace cohort::secagg {
namespace {

TEST(PackValuesTest, FixedWidthLittleEndianRoundTrip) {
  const std::vector<uint64_t> values = {0, 1, 0xdeadbeef, 0xffffffff};
  const std::string packed = PackValues(values, 32);
  ASSERT_EQ(packed.size(), 16u);
  EXPECT_EQ(static_cast<unsigned char>(packed[8]), 0xef);
  EXPECT_EQ(static_cast<unsigned char>(packed[11]), 0xde);
  auto back = UnpackValues(packed, 32, 4);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, values);
  // 12 bits take 2 bytes; 62 bits take 8.
  EXPECT_EQ(PackValues(values, 12).size(), 8u);
  EXPECT_EQ(PackValues({uint64_t{1} << 61}, 62).size(), 8u);
  auto wide = UnpackValues(PackValues({uint64_t{1} << 61}, 62), 62, 1);
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ((*wide)[0], uint64_t{1} << 61);
}

TEST(PackValuesTest, WrongLengthIsRejected) {
  EXPECT_EQ(UnpackValues(std::string(15, 'x'), 32, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UnpackValues(std::string(17, 'x'), 32, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::secagg

namespace cohort::secagg {
namespace {

TEST(PackedValuesTest, CheckRejectsBitsAboveTheModulusAndWrongLengths) {
  EXPECT_TRUE(CheckPackedValues(PackValues({0xffffffff, 7}, 32), 32, 2).ok());
  EXPECT_TRUE(CheckPackedValues(PackValues({0xfff, 1}, 12), 12, 2).ok());
  // 12 bits in 2 bytes: a set bit 12..15 is not a value mod 2^12.
  EXPECT_EQ(CheckPackedValues(PackValues({0x1000}, 16), 12, 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckPackedValues(std::string(7, 'x'), 32, 2).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PackedValuesTest, AddMatchesUnpackThenAddForEveryWidth) {
  for (int bits : {8, 12, 16, 24, 32, 40, 62, 64}) {
    const uint64_t mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
    std::vector<uint64_t> values;
    for (uint64_t k = 0; k < 37; ++k) values.push_back((k * 0x9e3779b97f4a7c15ULL) & mask);
    const std::string packed = PackValues(values, bits);
    std::vector<uint64_t> sum(values.size(), 5);
    AddPackedValues(packed, bits, absl::MakeSpan(sum));
    for (size_t k = 0; k < values.size(); ++k) EXPECT_EQ(sum[k], values[k] + 5) << bits;
  }
}

}  // namespace
}  // namespace cohort::secagg
