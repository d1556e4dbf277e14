// Test helper for ledger_test's crash test: opens the privacy ledger at
// argv[1] and charges releases in a loop, reporting each completed charge on
// stdout as "SEQ TOTAL_EPSILON\n" only after Charge has returned OK (the
// moment the site agent would release). The test SIGKILLs it at a random
// moment and checks that no reported charge was lost.
//
// Exits 0 after kMaxCharges charges, 1 on any error (reported on stderr).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/privacy/ledger.h"

namespace {

constexpr int kMaxCharges = 100000;

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int Fail(absl::string_view what) {
  std::fprintf(stderr, "ledger_crash_helper: %.*s\n", static_cast<int>(what.size()), what.data());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using cohort::privacy::BudgetCeiling;
  using cohort::privacy::ChargeRequest;
  using cohort::privacy::PrivacyEvent;
  using cohort::privacy::PrivacyLedger;
  if (argc != 2) return Fail("usage: ledger_crash_helper LEDGER_PATH");

  // Ceilings far above what the loop can spend: the test is about durability.
  const BudgetCeiling huge{.epsilon = 1e9, .delta = 1e-5};
  auto ledger = PrivacyLedger::Open(argv[1], huge);
  if (!ledger.ok()) return Fail(ledger.status().ToString());

  for (int i = 0; i < kMaxCharges; ++i) {
    ChargeRequest request;
    request.study_id = i % 3 == 0 ? "study-b" : "study-a";
    request.release_id = absl::StrCat("crash-", ::getpid(), "-", i);
    request.kind = i % 3 == 0 ? "statistics" : "train";
    if (i % 3 == 0) {
      request.events = {{.mechanism = PrivacyEvent::Mechanism::kGaussian,
                         .sampling_rate = 1.0,
                         .noise_multiplier = 20.0}};
    } else {
      request.events = {{.mechanism = PrivacyEvent::Mechanism::kGaussian,
                         .sampling_rate = 0.01,
                         .noise_multiplier = 1.1,
                         .count = 10},
                        {.mechanism = PrivacyEvent::Mechanism::kDiscreteGaussianSum,
                         .sampling_rate = 1.0,
                         .noise_multiplier = 5.0,
                         .rdp_slack = 1e-6}};
    }
    request.study_ceiling = huge;
    auto receipt = (*ledger)->Charge(request);
    if (!receipt.ok()) return Fail(receipt.status().ToString());
    const std::string report =
        absl::StrFormat("%d %.17g\n", receipt->sequence, receipt->total_after.epsilon);
    if (!WriteAll(STDOUT_FILENO, report)) return Fail("cannot write to stdout");
  }
  return 0;
}
