#include "common/util/logging.h"

#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_sinks.h"

namespace cohort::util {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};
std::string* g_program = new std::string("cohort");  // never destroyed

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view value) {
  if (value == "text") return LogFormat::kText;
  if (value == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--log-format: \"", value, "\" is not one of text, json"));
}

void InitLogging(absl::string_view program, LogFormat format,
                 spdlog::level::level_enum level) {
  *g_program = std::string(program);
  g_format = format;
  auto logger = std::make_shared<spdlog::logger>(
      std::string(program), std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == LogFormat::kJson) {
    logger->set_pattern("%v");  // LogEvent writes the whole object.
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

void LogEvent(spdlog::level::level_enum level, const LogContext& context,
              absl::string_view message) {
  if (!spdlog::default_logger_raw()->should_log(level)) return;
  if (g_format == LogFormat::kJson) {
    nlohmann::json line;
    line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                  absl::UTCTimeZone());
    line["level"] = std::string(spdlog::level::to_string_view(level).data(),
                                spdlog::level::to_string_view(level).size());
    line["program"] = *g_program;
    if (!context.study.empty()) line["study"] = context.study;
    if (context.round >= 0) line["round"] = context.round;
    if (!context.site.empty()) line["site"] = context.site;
    line["msg"] = std::string(message);
    spdlog::log(level, "{}", line.dump(-1, ' ', false,
                                       nlohmann::json::error_handler_t::replace));
    return;
  }
  std::string prefix;
  if (!context.study.empty()) absl::StrAppend(&prefix, "study=", context.study, " ");
  if (context.round >= 0) absl::StrAppend(&prefix, "round=", context.round, " ");
  if (!context.site.empty()) absl::StrAppend(&prefix, "site=", context.site, " ");
  spdlog::log(level, "{}{}", prefix, std::string(message));
}

}  // namespace cohort::util
