#include "common/audit/entry.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/audit/audit_test_util.h"

namespace cohort::audit {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
using testing::Consortium;

TEST(EntryTimeTest, FormatsMillisecondsInUtcAndParsesOnlyThatForm) {
  const absl::Time t = absl::FromUnixMillis(1714564800764);  // 2024-05-01T12:00:00.764Z
  EXPECT_EQ(FormatEntryTime(t), "2024-05-01T12:00:00.764Z");
  EXPECT_EQ(FormatEntryTime(t + absl::Microseconds(999)), "2024-05-01T12:00:00.764Z");
  EXPECT_EQ(FormatEntryTime(absl::FromUnixSeconds(0)), "1970-01-01T00:00:00.000Z");
  absl::StatusOr<absl::Time> parsed = ParseEntryTime("2024-05-01T12:00:00.764Z");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, t);
  for (const char* bad :
       {"2024-05-01T12:00:00Z", "2024-05-01T12:00:00.7640Z", "2024-05-01T12:00:00.764+00:00",
        "2024-05-01 12:00:00.764Z", "2024-05-01T12:00:00.764z", "2024-13-01T12:00:00.764Z", ""}) {
    EXPECT_FALSE(ParseEntryTime(bad).ok()) << bad;
  }
}

TEST(CheckValueTest, AcceptsTheCanonicalSubset) {
  Json body = {{"s", "héllo \"quoted\" \\ \n\t\x01 😀"},
               {"n", -kMaxSafeInteger},
               {"m", kMaxSafeInteger},
               {"u", static_cast<uint64_t>(kMaxSafeInteger)},
               {"b", true},
               {"z", nullptr},
               {"a", Json::array({1, "x", Json::object()})},
               {"ключ", {{"nested", Json::array()}}}};
  EXPECT_TRUE(CheckValue(body).ok()) << CheckValue(body);
}

TEST(CheckValueTest, RefusesWhatJqWouldPrintDifferently) {
  const struct {
    Json value;
    const char* message;
  } kCases[] = {
      {Json{{"x", 1.5}}, "body.x: 1.5 is a floating-point number"},
      {Json{{"x", 1.0}}, "floating-point"},
      {Json{{"x", std::nan("")}}, "floating-point"},
      {Json{{"x", std::numeric_limits<double>::infinity()}}, "floating-point"},
      {Json{{"x", kMaxSafeInteger + 1}}, "outside"},
      {Json{{"x", -kMaxSafeInteger - 1}}, "outside"},
      {Json{{"x", std::numeric_limits<uint64_t>::max()}}, "outside"},
      {Json{{"x", Json::array({1, 2.5})}}, "body.x[1]"},
      {Json{{"x", "a\x7f"}}, "U+007F"},
      {Json{{"x", "\xff"}}, "not valid UTF-8"},
      {Json{{"x", "\xed\xa0\x80"}}, "not valid UTF-8"},  // a UTF-16 surrogate
      {Json{{"\xc3", 1}}, "key"},
  };
  for (const auto& c : kCases) {
    absl::Status status = CheckValue(c.value);
    EXPECT_TRUE(absl::IsInvalidArgument(status))
        << c.value.dump(-1, ' ', false, Json::error_handler_t::replace);
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
}

TEST(CheckTypeTest, AllowsShortIdentifiers) {
  for (const char* good : {"result_sent", "site_anchor", "a", "task.started", "x:y-z"}) {
    EXPECT_TRUE(CheckType(good).ok()) << good;
  }
  for (const std::string& bad : {std::string(), std::string(65, 'a'), std::string("has space"),
                                 std::string("é"), std::string("a\nb")}) {
    EXPECT_TRUE(absl::IsInvalidArgument(CheckType(bad))) << bad;
  }
}

TEST(Base64Test, RoundTripsAndRefusesOtherSpellings) {
  for (const std::string& data : {std::string(), std::string("f"), std::string("fo"),
                                  std::string("foo"), std::string("\x00\xff\x10\x80", 4)}) {
    const std::string text = Base64Encode(data);
    absl::StatusOr<std::string> back = Base64Decode(text);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, data);
  }
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  for (const char* bad :
       {"Zm9vYg", "Zm9vYh==", "Zm9v\nYg==", " Zm9vYg==", "Zm9vYg=!", "Zm9v===="}) {
    EXPECT_FALSE(Base64Decode(bad).ok()) << bad;
  }
}

TEST(RotatedFileTest, NamesAndIndices) {
  EXPECT_EQ(RotatedFilePath("/s/audit/site.jsonl", 3), "/s/audit/site.000003.jsonl");
  EXPECT_EQ(RotatedFilePath("site.jsonl", 1234567), "site.1234567.jsonl");
  EXPECT_EQ(RotatedFileIndex("/s/audit/site.jsonl", "site.000003.jsonl"), 3);
  EXPECT_EQ(RotatedFileIndex("/s/audit/site.jsonl", "/elsewhere/site.000003.jsonl"), 3);
  EXPECT_EQ(RotatedFileIndex("/s/audit/site.jsonl", "site.1234567.jsonl"), 1234567);
  for (const char* other :
       {"site.jsonl", "site.00003.jsonl", "site.0000003.jsonl", "site.000000.jsonl",
        "site.000003.json", "other.000003.jsonl", "site.00000a.jsonl", "site.jsonl.lock"}) {
    EXPECT_EQ(RotatedFileIndex("/s/audit/site.jsonl", other), 0) << other;
  }
}

class SignedEntryTest : public ::testing::Test {
 protected:
  absl::StatusOr<Entry> Sign(Json body) {
    return SignEntry(7, "2024-05-01T12:00:00.764Z", kZeroHash, "result_sent", std::move(body),
                     *pki_.va.signer, pki_.va.credential.cert_pem);
  }
  const Consortium& pki_ = Consortium::Get();
};

TEST_F(SignedEntryTest, SignsTheCanonicalBytesWithoutTheSignature) {
  absl::StatusOr<Entry> entry = Sign({{"task_id", "t1"}, {"sha256", std::string(64, 'a')}});
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->hash, crypto::Sha256Hex(entry->line));
  const std::string expected_prefix =
      absl::StrCat(R"({"body":{"sha256":")", std::string(64, 'a'), R"(","task_id":"t1"},"prev":")",
                   kZeroHash, R"(","seq":7,"signature":")");
  EXPECT_EQ(entry->line.substr(0, expected_prefix.size()), expected_prefix);
  const std::string signed_bytes = SignedBytes(*entry);
  EXPECT_EQ(signed_bytes.find("signature"), std::string::npos);
  absl::StatusOr<std::string> der = Base64Decode(entry->signature_b64);
  ASSERT_TRUE(der.ok());
  EXPECT_TRUE(VerifyWithCertificateKey(entry->signer_pem, signed_bytes, *der).ok());
  EXPECT_FALSE(
      VerifyWithCertificateKey(pki_.cleveland.credential.cert_pem, signed_bytes, *der).ok());

  absl::StatusOr<Entry> parsed = ParseEntry(entry->line);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->seq, 7);
  EXPECT_EQ(parsed->time, "2024-05-01T12:00:00.764Z");
  EXPECT_EQ(parsed->prev, kZeroHash);
  EXPECT_EQ(parsed->type, "result_sent");
  EXPECT_EQ(parsed->body, entry->body);
  EXPECT_EQ(parsed->signer_pem, pki_.va.credential.cert_pem);
  EXPECT_EQ(parsed->signature_b64, entry->signature_b64);
  EXPECT_EQ(parsed->hash, entry->hash);
  EXPECT_EQ(SignedBytes(*parsed), signed_bytes);
}

TEST_F(SignedEntryTest, RefusesFieldsOutsideTheFormat) {
  EXPECT_TRUE(absl::IsInvalidArgument(Sign(Json::array()).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Sign("text").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Sign({{"x", 0.5}}).status()));
  const auto& key = *pki_.va.signer;
  const std::string& cert = pki_.va.credential.cert_pem;
  EXPECT_FALSE(
      SignEntry(0, "2024-05-01T12:00:00.764Z", kZeroHash, "t", Json::object(), key, cert).ok());
  EXPECT_FALSE(
      SignEntry(1, "2024-05-01T12:00:00Z", kZeroHash, "t", Json::object(), key, cert).ok());
  EXPECT_FALSE(
      SignEntry(1, "2024-05-01T12:00:00.764Z", std::string(64, 'A'), "t", Json::object(), key, cert)
          .ok());
  EXPECT_FALSE(
      SignEntry(1, "2024-05-01T12:00:00.764Z", kZeroHash, "", Json::object(), key, cert).ok());
}

TEST_F(SignedEntryTest, ParseRefusesAnythingButTheCanonicalLine) {
  absl::StatusOr<Entry> entry = Sign({{"task_id", "t1"}});
  ASSERT_TRUE(entry.ok()) << entry.status();
  const Json j = Json::parse(entry->line);
  auto with = [&](const char* key, Json value) {
    Json copy = j;
    copy[key] = std::move(value);
    return copy.dump();
  };
  Json extra = j;
  extra["extra"] = 1;
  Json missing = j;
  missing.erase("time");
  const struct {
    std::string line;
    const char* message;
  } kCases[] = {
      {"", "not valid JSON"},
      {"[1]", "not an object"},
      {extra.dump(), "unexpected \"extra\""},
      {missing.dump(), "missing \"time\""},
      {j.dump(1), "canonical"},
      {entry->line.substr(0, entry->line.size() - 1) + ",\"seq\":7}", "canonical"},  // repeated key
      {with("seq", 0), "\"seq\" 0"},
      {with("seq", "7"), "\"seq\" is not an integer"},
      {with("seq", 7.0), "floating-point"},
      {with("time", "yesterday"), "\"time\""},
      {with("prev", std::string(63, '0')), "\"prev\""},
      {with("type", ""), "entry type"},
      {with("body", Json::array()), "\"body\" is not an object"},
      {with("signer", 5), "\"signer\" is not a string"},
      {with("signature", "!!!!"), "base64"},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<Entry> parsed = ParseEntry(c.line);
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status())) << c.line;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message)) << c.line;
  }
}

}  // namespace
}  // namespace cohort::audit
