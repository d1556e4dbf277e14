// Process-wide logging set-up and the one call sites use to log an event.
//
// Every line carries the study, round and site it concerns (when known), so a
// hospital's IT team can grep one site and a consortium engineer one round.
// Two formats: human text (default) and JSON Lines (`--log-format json`), one
// object per line with fields ts, level, program, study, round, site, msg.
//
// Thread-safe: spdlog's default logger is used through its mt sink.
#ifndef COHORT_COMMON_UTIL_LOGGING_H_
#define COHORT_COMMON_UTIL_LOGGING_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace cohort::util {

enum class LogFormat { kText, kJson };

// Parses "text" or "json"; InvalidArgument otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view value);

// Installs the default logger writing to stderr. `program` names the process
// ("coordinator", "site:cleveland").
void InitLogging(absl::string_view program, LogFormat format,
                 spdlog::level::level_enum level = spdlog::level::info);

// Where an event belongs. Empty/negative fields are left out of the line.
struct LogContext {
  std::string study;
  int round = -1;
  std::string site;
};

void LogEvent(spdlog::level::level_enum level, const LogContext& context,
              absl::string_view message);

inline void LogInfo(const LogContext& c, absl::string_view m) {
  LogEvent(spdlog::level::info, c, m);
}
inline void LogWarn(const LogContext& c, absl::string_view m) {
  LogEvent(spdlog::level::warn, c, m);
}
inline void LogError(const LogContext& c, absl::string_view m) {
  LogEvent(spdlog::level::err, c, m);
}

}  // namespace cohort::util

#endif  // COHORT_COMMON_UTIL_LOGGING_H_
