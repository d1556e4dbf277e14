#include "common/audit/verify.h"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/util/status_macros.h"
#include "crypto/files.h"
#include "crypto/pki.h"
#include "crypto/sha256.h"
#include "crypto/signature.h"

namespace cohort::audit {
namespace {

using Json = nlohmann::json;
using crypto::PeerIdentity;
using crypto::Role;

std::string BaseName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

std::string ShortHash(absl::string_view hash) {
  return hash.size() > 16 ? absl::StrCat(hash.substr(0, 16), "...") : std::string(hash);
}

// One log, read and checked on its own.
struct LoadedLog {
  std::string path;  // as given (the current file, or the last of the list)
  std::vector<std::string> files;
  int64_t lines = 0;
  // The well-formed entries, in order, and for each where it is, whether
  // its signature and certificate hold, and who signed it (when known).
  std::vector<Entry> entries;
  std::vector<std::pair<std::string, int64_t>> where;
  std::vector<size_t> file_index;  // index in `files`
  std::vector<bool> authentic;
  std::vector<std::optional<PeerIdentity>> signer;
  std::multimap<int64_t, size_t> by_seq;  // seq -> index in `entries`
  std::optional<PeerIdentity> writer;
  int64_t first_seq = 0;  // of the first line, when well-formed
  int64_t last_seq = 0;
  std::vector<Violation> violations;
  std::vector<std::string> notes;

  std::string Describe() const {
    return absl::StrCat(writer.has_value() ? IdentityString(*writer) : std::string("unknown"),
                        "'s log (", path, ")");
  }
  void Report(size_t index, std::string what) {
    violations.push_back({.file = where[index].first,
                          .line = where[index].second,
                          .seq = entries[index].seq,
                          .what = std::move(what)});
  }
};

// Does everything Verify promises for one log except the cross-anchors.
// One Check per LogChecker.
class LogChecker {
 public:
  LogChecker(std::shared_ptr<crypto::CertificateVerifier> ca, std::string expected_writer)
      : ca_(std::move(ca)), expected_writer_(std::move(expected_writer)) {}

  // `files` are the log's files, oldest first; `current` names the log (its
  // current file, which may be missing from `files` after a crash).
  absl::StatusOr<LoadedLog> Check(const std::string& current,
                                  const std::vector<std::string>& files) {
    log_ = LoadedLog{};
    log_.files = files;
    log_.path = current;
    if (files.back() != current) {
      log_.notes.push_back(
          absl::StrCat(current,
                       ": the current file does not exist (a crash during a rotation, or deleted); "
                       "verifying its rotated files"));
    }
    for (size_t f = 0; f < files.size(); ++f) {
      ASSIGN_OR_RETURN(std::string contents, crypto::ReadFile(files[f]));
      file_ = f;
      CheckFile(files[f], contents, f + 1 == files.size());
    }
    CheckWriter();
    CheckStart();
    CheckRotation();
    CheckReceiptCommitments();
    return std::move(log_);
  }

 private:
  void Violate(const std::string& file, int64_t line, int64_t seq, std::string what) {
    log_.violations.push_back({.file = file, .line = line, .seq = seq, .what = std::move(what)});
  }

  void CheckFile(const std::string& file, absl::string_view contents, bool current) {
    size_t complete = contents.size();
    if (!contents.empty() && contents.back() != '\n') {
      const size_t last_newline = contents.rfind('\n');
      complete = last_newline == absl::string_view::npos ? 0 : last_newline + 1;
    }
    int64_t line_number = 0;
    for (size_t start = 0, end; start < complete; start = end + 1) {
      end = contents.find('\n', start);
      CheckLine(file, ++line_number, contents.substr(start, end - start));
    }
    if (complete < contents.size()) {
      const std::string what = absl::StrCat("incomplete last line (", contents.size() - complete,
                                            " bytes without a final newline)");
      if (current) {
        log_.notes.push_back(absl::StrCat(
            file, ":", line_number + 1, ": ", what,
            " ignored: an append a crash interrupted, which the writer drops when it next "
            "opens the log"));
      } else {
        Violate(file, line_number + 1, 0, absl::StrCat(what, " in a rotated file"));
      }
    }
    if (line_number == 0 && !current) Violate(file, 0, 0, "rotated file holds no entries");
    last_file_lines_.push_back(line_number);
  }

  void CheckLine(const std::string& file, int64_t line_number, absl::string_view text) {
    ++log_.lines;
    const std::string hash = crypto::Sha256Hex(text);
    const bool first = !prev_hash_.has_value();
    absl::StatusOr<Entry> parsed = ParseEntry(text);
    if (!parsed.ok()) {
      Violate(file, line_number, expected_seq_,
              absl::StrCat("malformed entry: ", parsed.status().message()));
      prev_hash_ = hash;
      if (expected_seq_ != 0) ++expected_seq_;
      return;
    }
    const size_t index = log_.entries.size();
    log_.entries.push_back(*std::move(parsed));
    log_.where.emplace_back(file, line_number);
    log_.file_index.push_back(file_);
    const Entry& e = log_.entries.back();
    log_.by_seq.emplace(e.seq, index);

    if (first) {
      log_.first_seq = e.seq;
      if (e.seq == 1 && e.prev != kZeroHash) {
        log_.Report(index, "entry 1 has a \"prev\" other than 64 zeros");
      }
    } else {
      if (expected_seq_ != 0 && e.seq != expected_seq_) {
        log_.Report(index,
                    absl::StrCat("seq ", e.seq, " where ", expected_seq_, " was expected (",
                                 e.seq > expected_seq_ ? "entries are missing"
                                                       : "an entry is repeated or out of order",
                                 ")"));
      }
      if (e.prev != *prev_hash_) {
        log_.Report(index,
                    absl::StrCat("\"prev\" ", ShortHash(e.prev),
                                 " is not the hash of the line before (", ShortHash(*prev_hash_),
                                 "): an entry before it was changed, removed, inserted "
                                 "or reordered"));
      }
    }
    const absl::Time time = *ParseEntryTime(e.time);  // ParseEntry checked it
    if (last_time_.has_value() && time < *last_time_) {
      log_.Report(index, absl::StrCat("time ", e.time, " is before the previous entry's time ",
                                      FormatEntryTime(*last_time_)));
    }
    last_time_ = time;

    std::optional<PeerIdentity> signer;
    const bool authentic = CheckSignature(index, time, signer);
    log_.authentic.push_back(authentic);
    log_.signer.push_back(std::move(signer));
    log_.last_seq = e.seq;
    // Follow the written seq only when it can be trusted, so that one
    // changed number is reported once, not at every entry after it.
    expected_seq_ = (authentic || expected_seq_ == 0 ? e.seq : expected_seq_) + 1;
    prev_hash_ = hash;
  }

  // Whether the entry's signature verifies with its signer certificate and
  // (with a CA) the certificate chains to the CA at `time`. Sets `signer`
  // to the certificate's identity when it is known.
  bool CheckSignature(size_t index, absl::Time time, std::optional<PeerIdentity>& signer) {
    const Entry& e = log_.entries[index];
    const std::string signature = *Base64Decode(e.signature_b64);  // ParseEntry checked it
    const std::string signed_bytes = SignedBytes(e);
    if (ca_ != nullptr) {
      absl::StatusOr<std::shared_ptr<const crypto::Verifier>> verifier =
          ca_->VerifierFor(e.signer_pem, time);
      if (!verifier.ok()) {
        log_.Report(index, absl::StrCat("signer certificate not accepted by the CA: ",
                                        verifier.status().message()));
        return false;
      }
      signer = (*verifier)->identity();
      if (!(*verifier)->Verify(signed_bytes, signature).ok()) {
        log_.Report(index, "signature does not verify");
        return false;
      }
      return true;
    }
    absl::StatusOr<PeerIdentity> identity = crypto::IdentityFromCertificatePem(e.signer_pem);
    if (!identity.ok()) {
      log_.Report(index, absl::StrCat("signer certificate: ", identity.status().message()));
      return false;
    }
    signer = *identity;
    if (absl::Status s = VerifyWithCertificateKey(e.signer_pem, signed_bytes, signature); !s.ok()) {
      log_.Report(index, absl::StrCat("signature: ", s.message()));
      return false;
    }
    return true;
  }

  // The writer is the identity that signed most authentic entries; entries
  // signed by anyone else were not written by it.
  void CheckWriter() {
    std::map<std::string, std::pair<int64_t, PeerIdentity>> counts;
    for (size_t i = 0; i < log_.entries.size(); ++i) {
      if (log_.authentic[i] && log_.signer[i].has_value()) {
        auto& [count, identity] = counts[IdentityString(*log_.signer[i])];
        ++count;
        identity = *log_.signer[i];
      }
    }
    int64_t best = 0;
    for (const auto& [name, counted] : counts) {
      if (counted.first > best) {
        best = counted.first;
        log_.writer = counted.second;
      }
    }
    std::string reference = log_.writer.has_value() ? IdentityString(*log_.writer) : std::string();
    if (!expected_writer_.empty()) reference = expected_writer_;
    if (reference.empty()) return;
    for (size_t i = 0; i < log_.entries.size(); ++i) {
      if (log_.signer[i].has_value() && IdentityString(*log_.signer[i]) != reference) {
        log_.Report(i, absl::StrCat("signed by ", IdentityString(*log_.signer[i]),
                                    ", not by the log's writer ", reference));
      }
    }
  }

  // A log that starts after entry 1 must say, in a log_pruned entry of its
  // own, that it was pruned to start exactly there.
  void CheckStart() {
    if (log_.entries.empty() || log_.where[0].second != 1 || log_.file_index[0] != 0) {
      return;  // no well-formed first line: already a violation
    }
    const Entry& first = log_.entries[0];
    if (first.seq == 1) return;
    for (size_t i = 0; i < log_.entries.size(); ++i) {
      const Entry& e = log_.entries[i];
      if (e.type != kLogPrunedType || !log_.authentic[i]) continue;
      const Json& body = e.body;
      if (body.value("first_seq_kept", Json()) == Json(first.seq) &&
          body.value("first_prev_kept", Json()) == Json(first.prev)) {
        log_.notes.push_back(absl::StrCat(log_.path, ": entries 1..", first.seq - 1,
                                          " were pruned (log_pruned entry ", e.seq, ")"));
        return;
      }
    }
    log_.Report(0,
                absl::StrCat("entries 1..", first.seq - 1, " are missing: the log starts at entry ",
                             first.seq, " and no log_pruned entry of the log accounts for them"));
  }

  // Every file but the last ends in log_rotated naming the file after it;
  // log_rotated appears nowhere else.
  void CheckRotation() {
    const std::string& current = log_.path;
    std::vector<std::optional<size_t>> last_entry_of_file(log_.files.size());
    for (size_t i = 0; i < log_.entries.size(); ++i) {
      const size_t f = log_.file_index[i];
      if (log_.where[i].second == last_file_lines_[f]) last_entry_of_file[f] = i;
    }
    for (size_t i = 0; i < log_.entries.size(); ++i) {
      const size_t f = log_.file_index[i];
      if (log_.entries[i].type == kLogRotatedType && last_entry_of_file[f] != i) {
        log_.Report(i, "log_rotated entry that is not the last entry of its file");
      }
    }
    for (size_t f = 0; f < log_.files.size(); ++f) {
      const std::string& file = log_.files[f];
      const bool last = f + 1 == log_.files.size();
      if (!last_entry_of_file[f].has_value()) {
        if (!last && last_file_lines_[f] > 0) {
          Violate(file, last_file_lines_[f], 0,
                  absl::StrCat("the file is followed by ", log_.files[f + 1],
                               " but does not end with a well-formed log_rotated entry"));
        }
        continue;
      }
      const size_t i = *last_entry_of_file[f];
      const Entry& e = log_.entries[i];
      if (last) {
        if (e.type == kLogRotatedType) {
          log_.notes.push_back(absl::StrCat(
              file,
              ": ends with a log_rotated entry: a rotation a crash interrupted, which the "
              "writer completes when it next opens the log"));
        }
        continue;
      }
      if (e.type != kLogRotatedType) {
        log_.Report(
            i, absl::StrCat("the file is followed by ", log_.files[f + 1], " but ends with a ",
                            e.type, " entry, not log_rotated (entries after it are missing?)"));
        continue;
      }
      const int64_t index = RotatedFileIndex(current, file);
      if (index == 0 || file == current) continue;  // not named by AuditLog
      const std::string expected = BaseName(RotatedFilePath(current, index + 1));
      const Json next = e.body.value("next_file", Json());
      if (next != Json(expected)) {
        log_.Report(i, absl::StrCat("log_rotated names ", next.dump(), " as the next file, not \"",
                                    expected, "\""));
      }
      if (f + 2 < log_.files.size() && RotatedFileIndex(current, log_.files[f + 1]) != index + 1) {
        log_.Report(
            i, absl::StrCat("the next file, ", expected, ", is missing (the next file present is ",
                            BaseName(log_.files[f + 1]), ")"));
      }
    }
  }

  // The coordinator's receipt_sent commits to the entry just before it.
  void CheckReceiptCommitments() {
    for (size_t i = 0; i < log_.entries.size(); ++i) {
      const Entry& e = log_.entries[i];
      if (e.type != "receipt_sent") continue;
      const Json seq = e.body.value("coordinator_seq", Json());
      const Json head = e.body.value("coordinator_head", Json());
      if (seq != Json(e.seq - 1) || head != Json(e.prev)) {
        log_.Report(i, absl::StrCat("receipt_sent commits to entry ", seq.dump(), " with head ",
                                    head.dump(), ", not to the entry before it (", e.seq - 1,
                                    ", \"", e.prev, "\")"));
      }
    }
  }

  const std::shared_ptr<crypto::CertificateVerifier> ca_;
  const std::string expected_writer_;
  LoadedLog log_;
  size_t file_ = 0;                       // the file being read
  std::vector<int64_t> last_file_lines_;  // lines per file
  std::optional<std::string> prev_hash_;  // of the line before; none before the first
  int64_t expected_seq_ = 0;              // 0: not known yet
  std::optional<absl::Time> last_time_;
};

// The entry of `y` that an anchor in `x` (entry `index`, of type `what`)
// names by seq and head, or nullptr after reporting why there is none.
const Entry* FindAnchored(LoadedLog& x, size_t index, absl::string_view what, const LoadedLog& y,
                          int64_t seq, const std::string& head, std::vector<std::string>& notes) {
  if (seq < y.first_seq) {
    notes.push_back(absl::StrCat(x.where[index].first, ":", x.where[index].second, ": ", what,
                                 " refers to entry ", seq, " of ", y.Describe(),
                                 ", which was pruned: not checked"));
    return nullptr;
  }
  auto [begin, end] = y.by_seq.equal_range(seq);
  if (begin == end) {
    x.Report(index,
             absl::StrCat(what, " refers to entry ", seq, " of ", y.Describe(),
                          seq > y.last_seq ? absl::StrCat(", which ends at entry ", y.last_seq,
                                                          " (entries were cut off its end)")
                                           : std::string(", which does not hold it")));
    return nullptr;
  }
  for (auto it = begin; it != end; ++it) {
    if (y.entries[it->second].hash == head) return &y.entries[it->second];
  }
  x.Report(index,
           absl::StrCat(what, " refers to entry ", seq, " of ", y.Describe(), " with hash ",
                        ShortHash(head), ", but that entry's hash is ",
                        ShortHash(y.entries[begin->second].hash), " (the log was rewritten)"));
  return nullptr;
}

// Checks the anchors in `x` that refer to `y`'s writer; returns how many.
int64_t CheckAnchors(LoadedLog& x, const LoadedLog& y, std::vector<std::string>& notes) {
  if (!x.writer.has_value() || !y.writer.has_value()) return 0;
  int64_t checked = 0;
  if (x.writer->role == Role::kCoordinator && y.writer->role == Role::kSite) {
    for (size_t i = 0; i < x.entries.size(); ++i) {
      const Entry& e = x.entries[i];
      if (e.type != "site_anchor" || e.body.value("site", Json()) != Json(y.writer->name)) {
        continue;
      }
      ++checked;
      const Json seq = e.body.value("seq", Json());
      const Json head = e.body.value("head", Json());
      if (!seq.is_number_integer() || !head.is_string()) {
        x.Report(i, "site_anchor without an integer \"seq\" and a string \"head\"");
        continue;
      }
      const Entry* anchored =
          FindAnchored(x, i, "site_anchor", y, seq.get<int64_t>(), head.get<std::string>(), notes);
      if (anchored == nullptr) continue;
      const Json task = e.body.value("task_id", Json());
      if (anchored->type != "result_sent" ||
          (!task.is_null() && anchored->body.value("task_id", Json()) != task)) {
        x.Report(i,
                 absl::StrCat("site_anchor for task ", task.dump(), " refers to entry ",
                              anchored->seq, " of ", y.Describe(), ", which is a ", anchored->type,
                              " entry for task ", anchored->body.value("task_id", Json()).dump(),
                              ", not the result_sent entry of that task"));
      }
    }
  }
  if (x.writer->role == Role::kSite && y.writer->role == Role::kCoordinator) {
    for (size_t i = 0; i < x.entries.size(); ++i) {
      const Entry& e = x.entries[i];
      if (e.type != "receipt") continue;
      const Json cert = e.body.value("coordinator_cert", Json());
      if (cert.is_string()) {
        absl::StatusOr<PeerIdentity> issuer =
            crypto::IdentityFromCertificatePem(cert.get<std::string>());
        if (issuer.ok() && *issuer != *y.writer) continue;  // another coordinator's
      }
      ++checked;
      const Json seq = e.body.value("coordinator_seq", Json());
      const Json head = e.body.value("coordinator_head", Json());
      if (!seq.is_number_integer() || !head.is_string()) {
        x.Report(i,
                 "receipt without an integer \"coordinator_seq\" and a string "
                 "\"coordinator_head\"");
        continue;
      }
      const int64_t n = seq.get<int64_t>();
      if (FindAnchored(x, i, "receipt", y, n, head.get<std::string>(), notes) == nullptr) {
        continue;
      }
      // The coordinator logged the receipt_sent right after the entry the
      // receipt commits to, before sending it.
      auto [begin, end] = y.by_seq.equal_range(n + 1);
      if (begin == end) {
        x.Report(i, absl::StrCat("receipt: ", y.Describe(), " has no entry ", n + 1,
                                 " (its receipt_sent for this receipt; entries were cut off its "
                                 "end)"));
        continue;
      }
      const Entry& sent = y.entries[begin->second];
      std::vector<std::string> differs;
      if (sent.type != "receipt_sent") differs.push_back(absl::StrCat("it is a ", sent.type));
      if (sent.body.value("site", Json()) != Json(x.writer->name)) {
        differs.push_back(absl::StrCat("it is for site ", sent.body.value("site", Json()).dump()));
      }
      for (const char* key :
           {"round", "participants", "aggregate_sha256", "coordinator_seq", "coordinator_head"}) {
        if (sent.body.value(key, Json()) != e.body.value(key, Json())) {
          differs.push_back(absl::StrCat("its \"", key, "\" differs"));
        }
      }
      if (!differs.empty()) {
        x.Report(i, absl::StrCat("receipt: entry ", n + 1, " of ", y.Describe(),
                                 " is not the receipt_sent of this receipt (",
                                 absl::StrJoin(differs, "; "), ")"));
      }
    }
  }
  return checked;
}

// A log to verify: its name (current file) and its files, oldest first.
struct LogToVerify {
  std::string current;
  std::vector<std::string> files;
};

absl::StatusOr<LogToVerify> FindLog(const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, LogFiles(path));
  return LogToVerify{.current = path, .files = std::move(files)};
}

absl::StatusOr<VerifyReport> VerifyLogs(const std::vector<LogToVerify>& logs,
                                        const VerifyOptions& options) {
  VerifyReport report;
  std::shared_ptr<crypto::CertificateVerifier> ca;
  if (options.ca_pem.empty()) {
    report.notes.push_back(
        "signatures not checked against a CA (no --ca): they only show that entries match the "
        "certificates embedded in them");
  } else {
    ASSIGN_OR_RETURN(ca, crypto::CertificateVerifier::New(options.ca_pem));
  }
  std::vector<LoadedLog> loaded;
  for (size_t i = 0; i < logs.size(); ++i) {
    LogChecker checker(ca, i == 0 ? options.expected_writer : std::string());
    ASSIGN_OR_RETURN(LoadedLog log, checker.Check(logs[i].current, logs[i].files));
    loaded.push_back(std::move(log));
  }
  std::vector<std::string> anchor_notes;
  std::vector<Violation> anchor_violations;
  for (size_t a = 0; a < loaded.size(); ++a) {
    for (size_t b = a + 1; b < loaded.size(); ++b) {
      const size_t before_a = loaded[a].violations.size();
      const size_t before_b = loaded[b].violations.size();
      const int64_t checked = CheckAnchors(loaded[a], loaded[b], anchor_notes) +
                              CheckAnchors(loaded[b], loaded[a], anchor_notes);
      // Keep the anchor violations apart, after every log's own.
      for (LoadedLog* log : {&loaded[a], &loaded[b]}) {
        const size_t before = log == &loaded[a] ? before_a : before_b;
        anchor_violations.insert(anchor_violations.end(), log->violations.begin() + before,
                                 log->violations.end());
        log->violations.resize(before);
      }
      if (loaded[a].writer.has_value() && loaded[b].writer.has_value()) {
        anchor_notes.push_back(
            checked == 0 ? absl::StrCat("no cross-anchors between ", loaded[a].Describe(), " and ",
                                        loaded[b].Describe())
                         : absl::StrCat(checked, " cross-anchors checked between ",
                                        loaded[a].Describe(), " and ", loaded[b].Describe()));
      }
    }
  }
  for (LoadedLog& log : loaded) {
    report.violations.insert(report.violations.end(), log.violations.begin(), log.violations.end());
    report.notes.insert(report.notes.end(), log.notes.begin(), log.notes.end());
  }
  report.violations.insert(report.violations.end(), anchor_violations.begin(),
                           anchor_violations.end());
  report.notes.insert(report.notes.end(), anchor_notes.begin(), anchor_notes.end());
  LoadedLog& main = loaded.front();
  report.entries = main.lines;
  if (main.writer.has_value()) report.writer = IdentityString(*main.writer);
  report.parsed = std::move(main.entries);
  return report;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> LogFiles(const std::string& path) {
  std::vector<std::string> files;
  absl::StatusOr<std::vector<RotatedFile>> rotated = ListRotatedFiles(path);
  if (!rotated.ok() && !absl::IsNotFound(rotated.status())) return rotated.status();
  if (rotated.ok()) {
    for (RotatedFile& file : *rotated) files.push_back(std::move(file.path));
  }
  std::error_code error;
  if (std::filesystem::exists(path, error)) files.push_back(path);
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat(path, ": no such audit log"));
  }
  return files;
}

std::string ToString(const Violation& v) {
  std::string out = v.file;
  if (v.line > 0) absl::StrAppend(&out, ":", v.line);
  if (v.seq > 0) absl::StrAppend(&out, " (entry ", v.seq, ")");
  absl::StrAppend(&out, ": ", v.what);
  return out;
}

absl::StatusOr<VerifyReport> Verify(const std::string& path, const VerifyOptions& options) {
  std::vector<LogToVerify> logs;
  ASSIGN_OR_RETURN(logs.emplace_back(), FindLog(path));
  for (const std::string& other : options.against) {
    ASSIGN_OR_RETURN(logs.emplace_back(), FindLog(other));
  }
  return VerifyLogs(logs, options);
}

absl::StatusOr<VerifyReport> VerifyFiles(const std::vector<std::string>& files,
                                         const VerifyOptions& options) {
  if (files.empty()) return absl::InvalidArgumentError("no audit log files to verify");
  std::vector<LogToVerify> logs{{.current = files.back(), .files = files}};
  for (const std::string& other : options.against) {
    ASSIGN_OR_RETURN(logs.emplace_back(), FindLog(other));
  }
  return VerifyLogs(logs, options);
}

}  // namespace cohort::audit
