// Shared setup of the audit log tests: a consortium CA with the parties
// that write logs (two sites and the coordinator), a stranger CA with its own
// "site va", a simulated clock, and helpers to read, edit and re-sign the
// lines of log files the way an attacker (or a careless editor) would.
#ifndef COHORT_TESTS_COMMON_AUDIT_AUDIT_TEST_UTIL_H_
#define COHORT_TESTS_COMMON_AUDIT_AUDIT_TEST_UTIL_H_

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/audit/audit_log.h"
#include "common/audit/entry.h"
#include "common/util/clock.h"
#include "crypto/pki.h"
#include "crypto/sha256.h"
#include "crypto/signature.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/util/temp_dir.h"

namespace cohort::audit::testing {

// A certificate holder.
struct Party {
  crypto::Credential credential;
  std::shared_ptr<const crypto::Signer> signer;
};

inline Party MakeParty(const crypto::Credential& ca, crypto::Role role, const std::string& name,
                       absl::Time not_before) {
  absl::StatusOr<crypto::Credential> credential =
      crypto::IssueCertificate(ca, role, name, {}, not_before, absl::Hours(24 * 30));
  EXPECT_TRUE(credential.ok()) << credential.status();
  absl::StatusOr<std::unique_ptr<crypto::Signer>> signer =
      crypto::Signer::FromPrivateKeyPem(credential->key_pem);
  EXPECT_TRUE(signer.ok()) << signer.status();
  return Party{*credential, std::shared_ptr<const crypto::Signer>(*std::move(signer))};
}

// The parties, made once per test binary (key generation is the slow part).
struct Consortium {
  crypto::Credential ca;
  crypto::Credential stranger_ca;  // another consortium's CA
  Party va;                        // site va
  Party cleveland;                 // site cleveland, same CA
  Party coordinator;               // coordinator localhost
  Party stranger_va;               // "site va" certified by stranger_ca
  absl::Time start;                // within every certificate's validity

  static const Consortium& Get() {
    static const Consortium* consortium = [] {
      auto* c = new Consortium;
      c->start = absl::FromUnixMillis(absl::ToUnixMillis(absl::Now()));
      const absl::Time not_before = c->start - absl::Hours(1);
      c->ca =
          *crypto::CreateCertificateAuthority("test consortium", not_before, absl::Hours(24 * 365));
      c->stranger_ca = *crypto::CreateCertificateAuthority("stranger consortium", not_before,
                                                           absl::Hours(24 * 365));
      c->va = MakeParty(c->ca, crypto::Role::kSite, "va", not_before);
      c->cleveland = MakeParty(c->ca, crypto::Role::kSite, "cleveland", not_before);
      c->coordinator = MakeParty(c->ca, crypto::Role::kCoordinator, "localhost", not_before);
      c->stranger_va = MakeParty(c->stranger_ca, crypto::Role::kSite, "va", not_before);
      return c;
    }();
    return *consortium;
  }
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteAll(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

// The lines of a file that ends in "\n", without their "\n".
inline std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines = absl::StrSplit(ReadAll(path), '\n');
  EXPECT_EQ(lines.back(), "") << path << " does not end in a newline";
  lines.pop_back();
  return lines;
}

inline void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::string contents;
  for (const std::string& line : lines) contents += line + "\n";
  WriteAll(path, contents);
}

// Re-signs entries [from, end) of `lines` (one file, or a whole log laid out
// in one file) with `party`'s key and certificate after `edit` changed their
// JSON, re-chaining every line after the first edited one: what the holder
// of a key can do to a log. `edit` gets the line index and the entry without
// "signature"; `prev` of the first line stays as it was.
template <typename Edit>
void ResignFrom(std::vector<std::string>& lines, size_t from, const Party& party, Edit edit) {
  for (size_t i = from; i < lines.size(); ++i) {
    nlohmann::json j = nlohmann::json::parse(lines[i]);
    j.erase("signature");
    if (i > 0) j["prev"] = crypto::Sha256Hex(lines[i - 1]);
    edit(i, j);
    absl::StatusOr<Entry> entry = SignEntry(
        j["seq"].get<int64_t>(), j["time"].get<std::string>(), j["prev"].get<std::string>(),
        j["type"].get<std::string>(), j["body"], *party.signer, party.credential.cert_pem);
    ASSERT_TRUE(entry.ok()) << entry.status();
    lines[i] = entry->line;
  }
}

// A fixture with the consortium, a temporary folder and a clock that starts
// at Consortium::start and moves a second per Tick().
class AuditTest : public ::testing::Test {
 protected:
  AuditTest() : pki_(Consortium::Get()), clock_(pki_.start) {}

  absl::StatusOr<std::unique_ptr<AuditLog>> OpenLog(const std::string& path, const Party& party,
                                                    RotationPolicy rotation = {}) {
    return AuditLog::Open(path, party.signer, party.credential.cert_pem, &clock_, rotation);
  }

  // Opens `path` as `party` and appends `n` entries of type "event" with
  // bodies {"i": k}, a second apart.
  void WriteLog(const std::string& path, const Party& party, int n, RotationPolicy rotation = {}) {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(path, party, rotation);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int k = 0; k < n; ++k) {
      Tick();
      absl::StatusOr<Entry> entry = (*log)->Append("event", {{"i", k}, {"note", "ok"}});
      ASSERT_TRUE(entry.ok()) << entry.status();
    }
  }

  void Tick() { clock_.Advance(absl::Seconds(1)); }

  const Consortium& pki_;
  util::SimulatedClock clock_;
  cohort::testing::TempDir dir_;
};

}  // namespace cohort::audit::testing

#endif  // COHORT_TESTS_COMMON_AUDIT_AUDIT_TEST_UTIL_H_
