#include "common/privacy/ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <filesystem>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/util/durable_file.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace cohort::privacy {
namespace {

using util::ErrnoError;
using util::FdCloser;
using util::FsyncRetryingOnEintr;
using util::IoInternal;
using util::MakeFolders;
using util::OpenRetryingOnEintr;
using util::ReadAll;
using util::SyncDirectory;
using util::WriteAll;

using Json = nlohmann::ordered_json;

constexpr size_t kMaxIdLength = 256;

// ---- Validation, shared by requests and by lines read back. ----
// Each returns an empty string when valid, else what is wrong.

std::string CheckId(absl::string_view what, absl::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) {
    return absl::StrCat(what, " must be 1 to ", kMaxIdLength, " characters");
  }
  for (char c : id) {
    if (c < 0x20 || c > 0x7e) {
      return absl::StrCat(what, " \"", absl::CHexEscape(id),
                          "\" may only contain printable ASCII characters");
    }
  }
  return "";
}

std::string CheckKind(absl::string_view kind) {
  if (kind == "statistics" || kind == "train" || kind == "evaluate") return "";
  return absl::StrCat("kind \"", absl::CHexEscape(kind),
                      "\" is not \"statistics\", \"train\" or \"evaluate\"");
}

std::string CheckEvent(const PrivacyEvent& e) {
  if (e.mechanism != PrivacyEvent::Mechanism::kGaussian &&
      e.mechanism != PrivacyEvent::Mechanism::kDiscreteGaussianSum) {
    return "unknown mechanism";
  }
  if (!(e.sampling_rate > 0 && e.sampling_rate <= 1)) {
    return absl::StrCat("sampling_rate ", e.sampling_rate, " is not in (0, 1]");
  }
  if (!(e.noise_multiplier > 0 && std::isfinite(e.noise_multiplier))) {
    return absl::StrCat("noise_multiplier ", e.noise_multiplier, " is not positive and finite");
  }
  if (!(e.rdp_slack >= 0 && std::isfinite(e.rdp_slack))) {
    return absl::StrCat("rdp_slack ", e.rdp_slack, " is not non-negative and finite");
  }
  if (e.mechanism == PrivacyEvent::Mechanism::kGaussian && e.rdp_slack != 0) {
    return "rdp_slack must be 0 for the gaussian mechanism";
  }
  if (e.count < 1) return absl::StrCat("count ", e.count, " is not at least 1");
  return "";
}

bool SameMechanism(const PrivacyEvent& a, const PrivacyEvent& b) {
  return a.mechanism == b.mechanism && a.sampling_rate == b.sampling_rate &&
         a.noise_multiplier == b.noise_multiplier && a.rdp_slack == b.rdp_slack;
}

// Adds `event` to `set`, merging it with an identical event (composition only
// depends on how many times each event occurs). False if a count overflows.
bool AddEvent(std::vector<PrivacyEvent>& set, const PrivacyEvent& event) {
  for (PrivacyEvent& e : set) {
    if (SameMechanism(e, event)) return !__builtin_add_overflow(e.count, event.count, &e.count);
  }
  set.push_back(event);
  return true;
}

absl::string_view MechanismName(PrivacyEvent::Mechanism m) {
  return m == PrivacyEvent::Mechanism::kGaussian ? "gaussian" : "discrete_gaussian_sum";
}

absl::StatusOr<Spend> ComputeSpend(const std::vector<PrivacyEvent>& events, double delta) {
  if (events.empty())
    return Spend{.epsilon = 0, .delta = delta, .accountant = AccountantKind::kRdp};
  ASSIGN_OR_RETURN(EpsilonBound bound, Epsilon(events, delta));
  return Spend{.epsilon = bound.epsilon, .delta = delta, .accountant = bound.accountant};
}

// `before` and `after` (> `ceiling`) with just enough digits that `after`
// visibly differs from `ceiling` (and from `before` when they differ).
struct Numbers {
  std::string before, after, ceiling;
};
Numbers FormatNumbers(double before, double after, double ceiling) {
  Numbers n;
  for (int digits = 3; digits <= 17; ++digits) {
    n = {absl::StrFormat("%.*g", digits, before), absl::StrFormat("%.*g", digits, after),
         absl::StrFormat("%.*g", digits, ceiling)};
    if (n.after != n.ceiling && (before == after || n.before != n.after)) break;
  }
  return n;
}

// One line of the ledger, parsed and validated.
struct Line {
  int64_t seq = 0;
  std::string study;
  std::vector<PrivacyEvent> events;
};

// Parses `text` (one line without its "\n"); returns what is wrong otherwise.
absl::StatusOr<Line> ParseLine(absl::string_view text) {
  auto bad = [](absl::string_view why) { return absl::InvalidArgumentError(why); };
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object()) return bad("not a JSON object");
  auto field = [&j](const char* key) -> const Json* {
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  };
  auto string_field = [&](const char* key, std::string& out) -> absl::Status {
    const Json* v = field(key);
    if (v == nullptr || !v->is_string()) return bad(absl::StrCat("\"", key, "\" is not a string"));
    out = v->get<std::string>();
    return absl::OkStatus();
  };
  auto number_field = [&](const Json& object, const char* key, double& out) -> absl::Status {
    auto it = object.find(key);
    if (it == object.end() || !it->is_number()) {
      return bad(absl::StrCat("\"", key, "\" is not a number"));
    }
    out = it->get<double>();
    return absl::OkStatus();
  };
  auto integer_field = [&](const Json& object, const char* key, int64_t& out) -> absl::Status {
    auto it = object.find(key);
    if (it == object.end() || !it->is_number_integer() ||
        (it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX)) {
      return bad(absl::StrCat("\"", key, "\" is not an integer"));
    }
    out = it->get<int64_t>();
    return absl::OkStatus();
  };

  Line line;
  RETURN_IF_ERROR(integer_field(j, "seq", line.seq));
  std::string time, release, kind, accountant;
  RETURN_IF_ERROR(string_field("time", time));
  RETURN_IF_ERROR(string_field("study", line.study));
  RETURN_IF_ERROR(string_field("release", release));
  RETURN_IF_ERROR(string_field("kind", kind));
  for (const std::string& problem :
       {CheckId("study", line.study), CheckId("release", release), CheckKind(kind)}) {
    if (!problem.empty()) return bad(problem);
  }

  const Json* events = field("events");
  if (events == nullptr || !events->is_array() || events->empty()) {
    return bad("\"events\" is not a non-empty list");
  }
  for (size_t i = 0; i < events->size(); ++i) {
    const Json& e = (*events)[i];
    auto event_error = [i](const absl::Status& s) {
      return absl::InvalidArgumentError(absl::StrCat("event ", i + 1, ": ", s.message()));
    };
    if (!e.is_object()) return event_error(bad("not a JSON object"));
    PrivacyEvent event;
    auto mechanism = e.find("mechanism");
    if (mechanism != e.end() && *mechanism == "gaussian") {
      event.mechanism = PrivacyEvent::Mechanism::kGaussian;
    } else if (mechanism != e.end() && *mechanism == "discrete_gaussian_sum") {
      event.mechanism = PrivacyEvent::Mechanism::kDiscreteGaussianSum;
    } else {
      return event_error(bad("\"mechanism\" is not \"gaussian\" or \"discrete_gaussian_sum\""));
    }
    for (absl::Status s :
         {number_field(e, "sampling_rate", event.sampling_rate),
          number_field(e, "noise_multiplier", event.noise_multiplier),
          number_field(e, "rdp_slack", event.rdp_slack), integer_field(e, "count", event.count)}) {
      if (!s.ok()) return event_error(s);
    }
    if (std::string problem = CheckEvent(event); !problem.empty()) {
      return event_error(bad(problem));
    }
    line.events.push_back(event);
  }

  // The totals are informational, but a line without them is not one the
  // ledger wrote.
  double informational;
  for (const char* key :
       {"study_epsilon_after", "study_delta", "total_epsilon_after", "total_delta"}) {
    RETURN_IF_ERROR(number_field(j, key, informational));
  }
  RETURN_IF_ERROR(string_field("accountant", accountant));
  if (accountant != AccountantName(AccountantKind::kRdp) &&
      accountant != AccountantName(AccountantKind::kPld)) {
    return bad("\"accountant\" is not \"rdp\" or \"pld\"");
  }
  return line;
}

}  // namespace

absl::Status ValidateCeiling(const BudgetCeiling& ceiling, absl::string_view what) {
  if (!(ceiling.epsilon > 0 && std::isfinite(ceiling.epsilon))) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": epsilon ", ceiling.epsilon, " is not positive and finite"));
  }
  if (!(ceiling.delta > 0 && ceiling.delta < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": delta ", ceiling.delta, " is not in (0, 1)"));
  }
  return absl::OkStatus();
}

PrivacyLedger::PrivacyLedger(std::string path, BudgetCeiling total_ceiling,
                             const util::Clock* clock, int fd)
    : path_(std::move(path)), total_ceiling_(total_ceiling), clock_(clock), fd_(fd) {}

PrivacyLedger::~PrivacyLedger() { ::close(fd_); }

absl::StatusOr<std::unique_ptr<PrivacyLedger>> PrivacyLedger::Open(const std::string& path,
                                                                   BudgetCeiling total_ceiling,
                                                                   const util::Clock* clock) {
  RETURN_IF_ERROR(ValidateCeiling(total_ceiling, "the site's total privacy ceiling"));
  if (path.empty() || path.back() == '/') {
    return absl::InvalidArgumentError(absl::StrCat("\"", path, "\" is not a file path"));
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  RETURN_IF_ERROR(MakeFolders(parent));

  int fd = OpenRetryingOnEintr(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(errno, path, "cannot open privacy ledger");
  FdCloser closer(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat(path,
                       ": the privacy ledger is in use by another ledger (another "
                       "site agent running on the same state folder?)"));
    }
    return ErrnoError(errno, path, "cannot lock privacy ledger");
  }
  // Whoever created the file, its name must be durable before any charge is
  // (a creator may have crashed before syncing the folder); this is cheap.
  RETURN_IF_ERROR(SyncDirectory(dir));

  ASSIGN_OR_RETURN(std::string contents, ReadAll(fd, path));
  const size_t last_newline = contents.rfind('\n');
  const size_t complete = last_newline == std::string::npos ? 0 : last_newline + 1;
  const bool torn = complete < contents.size();
  contents.resize(complete);

  std::unique_ptr<PrivacyLedger> ledger(
      new PrivacyLedger(path, total_ceiling, clock, closer.Release()));
  {
    absl::MutexLock lock(&ledger->mu_);
    // A ledger refused as malformed is left exactly as found, for a person to
    // inspect.
    RETURN_IF_ERROR(ledger->LoadLocked(contents));
  }
  if (torn) {
    // The append that a crash interrupted never returned, so its release
    // never left: drop it, durably, before appending after it.
    if (::ftruncate(ledger->fd_, static_cast<off_t>(complete)) != 0) {
      return ErrnoError(errno, path, "cannot truncate the torn last line");
    }
    if (int error = FsyncRetryingOnEintr(ledger->fd_); error != 0) {
      return ErrnoError(error, path, "fsync after truncating the torn last line failed");
    }
    ledger->recovered_torn_line_ = true;
  }
  return ledger;
}

absl::Status PrivacyLedger::LoadLocked(absl::string_view contents) {
  // `contents` is whole lines, each ending in "\n".
  int64_t line_number = 0;
  for (size_t start = 0, end; start < contents.size(); start = end + 1) {
    end = contents.find('\n', start);
    const absl::string_view text = contents.substr(start, end - start);
    ++line_number;
    auto data_loss = [&](absl::string_view why) {
      return absl::DataLossError(absl::StrCat(path_, ":", line_number, ": ", why));
    };
    absl::StatusOr<Line> line = ParseLine(text);
    if (!line.ok()) return data_loss(line.status().message());
    if (line->seq != size_ + 1) {
      return data_loss(absl::StrCat("sequence number ", line->seq, " where ", size_ + 1,
                                    " was expected (a charge is missing or out of order)"));
    }
    EventSet& study = study_events_[line->study];
    for (const PrivacyEvent& event : line->events) {
      if (!AddEvent(study, event) || !AddEvent(total_events_, event)) {
        return data_loss("event counts overflow");
      }
    }
    ++size_;
  }
  file_bytes_ = static_cast<int64_t>(contents.size());
  return absl::OkStatus();
}

absl::StatusOr<Spend> PrivacyLedger::StudySpent(absl::string_view study_id, double delta) const {
  if (!(delta > 0 && delta < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("delta ", delta, " is not in (0, 1)"));
  }
  absl::ReaderMutexLock lock(&mu_);
  auto it = study_events_.find(study_id);
  return ComputeSpend(it == study_events_.end() ? EventSet{} : it->second, delta);
}

absl::StatusOr<Spend> PrivacyLedger::TotalSpent() const {
  absl::MutexLock lock(&mu_);
  if (!total_spent_.has_value()) {
    ASSIGN_OR_RETURN(total_spent_, ComputeSpend(total_events_, total_ceiling_.delta));
  }
  return *total_spent_;
}

absl::StatusOr<ChargeReceipt> PrivacyLedger::Preview(const ChargeRequest& request) const {
  absl::MutexLock lock(&mu_);  // exclusive: PreviewLocked fills the caches
  ASSIGN_OR_RETURN(Plan plan, PreviewLocked(request));
  return plan.receipt;
}

absl::StatusOr<PrivacyLedger::Plan> PrivacyLedger::PreviewLocked(
    const ChargeRequest& request) const {
  if (!broken_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": an earlier write to the privacy ledger failed (", broken_.message(),
                     "); reopen the ledger before charging again"));
  }
  for (const std::string& problem :
       {CheckId("study id", request.study_id), CheckId("release id", request.release_id),
        CheckKind(request.kind)}) {
    if (!problem.empty()) return absl::InvalidArgumentError(problem);
  }
  const std::string release =
      absl::StrCat("release ", request.release_id, " of study ", request.study_id);
  RETURN_IF_ERROR(ValidateCeiling(request.study_ceiling,
                                  absl::StrCat("study ", request.study_id, ": privacy ceiling")));
  if (request.events.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(release, ": no privacy events to charge"));
  }

  auto it = study_events_.find(request.study_id);
  const EventSet no_events;
  const EventSet& study_before = it == study_events_.end() ? no_events : it->second;
  Plan plan{.receipt = {}, .study_events = study_before, .total_events = total_events_};
  for (size_t i = 0; i < request.events.size(); ++i) {
    if (std::string problem = CheckEvent(request.events[i]); !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(release, ": event ", i + 1, ": ", problem));
    }
    if (!AddEvent(plan.study_events, request.events[i]) ||
        !AddEvent(plan.total_events, request.events[i])) {
      return absl::InvalidArgumentError(absl::StrCat(release, ": event counts overflow"));
    }
  }

  ChargeReceipt& receipt = plan.receipt;
  receipt.sequence = size_ + 1;
  const double study_delta = request.study_ceiling.delta;
  // The accountant is deterministic, so a cached spend is exactly what
  // recomputing it would give.
  auto cached = study_spent_.find(request.study_id);
  if (cached != study_spent_.end() && cached->second.delta == study_delta) {
    receipt.study_before = cached->second;
  } else {
    ASSIGN_OR_RETURN(receipt.study_before, ComputeSpend(study_before, study_delta));
    study_spent_[request.study_id] = receipt.study_before;
  }
  if (!total_spent_.has_value()) {
    ASSIGN_OR_RETURN(total_spent_, ComputeSpend(total_events_, total_ceiling_.delta));
  }
  receipt.total_before = *total_spent_;
  ASSIGN_OR_RETURN(receipt.study_after, ComputeSpend(plan.study_events, study_delta));
  ASSIGN_OR_RETURN(receipt.total_after, ComputeSpend(plan.total_events, total_ceiling_.delta));

  // `!(x <= ceiling)` also refuses a NaN from the accountant.
  if (!(receipt.study_after.epsilon <= request.study_ceiling.epsilon)) {
    Numbers n = FormatNumbers(receipt.study_before.epsilon, receipt.study_after.epsilon,
                              request.study_ceiling.epsilon);
    return absl::ResourceExhaustedError(absl::StrFormat(
        "study %s: this %s release would raise epsilon from %s to %s (delta %g), above the "
        "site's ceiling of %s",
        request.study_id, request.kind, n.before, n.after, study_delta, n.ceiling));
  }
  if (!(receipt.total_after.epsilon <= total_ceiling_.epsilon)) {
    Numbers n = FormatNumbers(receipt.total_before.epsilon, receipt.total_after.epsilon,
                              total_ceiling_.epsilon);
    return absl::ResourceExhaustedError(absl::StrFormat(
        "study %s: this %s release would raise the site's total epsilon over all studies from "
        "%s to %s (delta %g), above the site's total ceiling of %s",
        request.study_id, request.kind, n.before, n.after, total_ceiling_.delta, n.ceiling));
  }
  return plan;
}

std::string PrivacyLedger::FormatLine(const ChargeRequest& request,
                                      const ChargeReceipt& receipt) const {
  Json events = Json::array();
  for (const PrivacyEvent& e : request.events) {
    events.push_back(Json{{"mechanism", MechanismName(e.mechanism)},
                          {"sampling_rate", e.sampling_rate},
                          {"noise_multiplier", e.noise_multiplier},
                          {"rdp_slack", e.rdp_slack},
                          {"count", e.count}});
  }
  Json line{{"seq", receipt.sequence},
            {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", clock_->Now(), absl::UTCTimeZone())},
            {"study", request.study_id},
            {"release", request.release_id},
            {"kind", request.kind},
            {"events", std::move(events)},
            {"study_epsilon_after", receipt.study_after.epsilon},
            {"study_delta", receipt.study_after.delta},
            {"total_epsilon_after", receipt.total_after.epsilon},
            {"total_delta", receipt.total_after.delta},
            {"accountant", AccountantName(receipt.study_after.accountant)}};
  // Every string was checked to be printable ASCII, so dump() cannot throw.
  return line.dump() + "\n";
}

absl::StatusOr<ChargeReceipt> PrivacyLedger::Charge(const ChargeRequest& request) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Plan plan, PreviewLocked(request));
  const ChargeReceipt& receipt = plan.receipt;
  const std::string line = FormatLine(request, receipt);

  if (int error = WriteAll(fd_, line); error != 0) {
    // A partial line has no final "\n", so even if it stayed it would read
    // back as torn and never as a charge; truncating keeps the file as it was
    // so that later charges can follow it.
    if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0) {
      broken_ = IoInternal(errno, path_, "truncation after a failed write failed");
    }
    return IoInternal(error, path_, "appending a charge failed (nothing may be released)");
  }
  // The charge is now in the file, if perhaps not yet on disk: count it
  // whatever fsync says, so that spending never goes backwards.
  study_events_[request.study_id] = std::move(plan.study_events);
  total_events_ = std::move(plan.total_events);
  ++size_;
  file_bytes_ += static_cast<int64_t>(line.size());
  study_spent_[request.study_id] = receipt.study_after;
  total_spent_ = receipt.total_after;
  if (int error = FsyncRetryingOnEintr(fd_); error != 0) {
    broken_ = IoInternal(error, path_, "fsync failed");
    return IoInternal(error, path_, "fsync of a charge failed (nothing may be released)");
  }
  return receipt;
}

int64_t PrivacyLedger::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return size_;
}

bool PrivacyLedger::recovered_torn_line() const { return recovered_torn_line_; }

}  // namespace cohort::privacy
