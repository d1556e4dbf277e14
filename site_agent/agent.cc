#include "site_agent/agent.h"

#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/net/tls.h"
#include "common/util/logging.h"

namespace cohort::site {

SiteAgent::SiteAgent(const SiteConfig& config, AgentOptions options,
                     std::unique_ptr<CoordinatorClient> client)
    : config_(config),
      options_(std::move(options)),
      client_(std::move(client)),
      executor_(config_, client_.get()) {}

SiteAgent::~SiteAgent() = default;

void SiteAgent::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  client_->CancelAll();
  absl::MutexLock lock(&mu_);
  worker_exit_ = true;
}

bool SiteAgent::SleepUnlessStopped(absl::Duration d) {
  return !stop_.WaitForNotificationWithTimeout(d);
}

absl::Duration SiteAgent::Jitter(absl::Duration backoff) {
  // Full jitter in [backoff/2, backoff] so restarted hospitals do not
  // reconnect in lockstep.
  return backoff * absl::Uniform(jitter_gen_, 0.5, 1.0);
}

void SiteAgent::PushWithRetry(const v1::Task& task, const v1::TaskResult& result) {
  const util::LogContext ctx{task.study_id(), task.round(), config_.site};
  absl::Duration backoff = config_.initial_backoff;
  const absl::Time deadline = absl::FromUnixMillis(task.deadline_unix_ms());
  while (!stop_.HasBeenNotified()) {
    auto pushed = client_->PushResult(result);
    if (pushed.ok()) {
      absl::MutexLock lock(&mu_);
      pushed_[task.task_id()] = result;
      return;
    }
    const absl::StatusCode code = pushed.status().code();
    if (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded &&
        code != absl::StatusCode::kCancelled) {
      util::LogWarn(ctx, absl::StrCat("coordinator did not accept result of ", task.task_id(),
                                      ": ", pushed.status().message()));
      return;
    }
    if (absl::Now() > deadline) {
      util::LogWarn(ctx, absl::StrCat("gave up pushing ", task.task_id(),
                                      ": the round deadline has passed"));
      return;
    }
    if (!SleepUnlessStopped(Jitter(backoff))) return;
    backoff = std::min(backoff * 2, config_.max_backoff);
  }
}

void SiteAgent::WorkerLoop() {
  while (true) {
    v1::Task task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return worker_exit_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (worker_exit_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    const util::LogContext ctx{task.study_id(), task.round(), config_.site};
    util::LogInfo(ctx, absl::StrCat("task ", task.task_id(), " received"));
    absl::StatusOr<v1::TaskResult> result = executor_.Execute(task);
    if (!result.ok()) {
      util::LogWarn(ctx, absl::StrCat("task ", task.task_id(),
                                      " failed: ", result.status().message()));
      absl::MutexLock lock(&mu_);
      seen_.erase(task.task_id());  // a re-delivery may succeed
      continue;
    }
    PushWithRetry(task, *result);
  }
}

absl::Status SiteAgent::Run() {
  const util::LogContext ctx{"", -1, config_.site};
  const absl::Status own_certificate = net::CheckOwnCertificate(config_.tls);
  if (!own_certificate.ok()) {
    util::LogWarn(ctx, absl::StrCat("local certificate check failed: ", own_certificate.message()));
  }
  std::thread worker([this] { WorkerLoop(); });
  absl::Status exit_status = absl::OkStatus();
  absl::Duration backoff = config_.initial_backoff;
  int handshake_failures = 0;

  while (!stop_.HasBeenNotified()) {
    auto hello = client_->Hello(options_.version);
    if (!hello.ok()) {
      if (stop_.HasBeenNotified()) break;
      const absl::Status& s = hello.status();
      if (absl::IsPermissionDenied(s) || absl::IsUnauthenticated(s)) {
        exit_status = absl::PermissionDeniedError(
            absl::StrCat("the coordinator refused this site: ", s.message()));
        break;
      }
      if (!own_certificate.ok()) {
        exit_status = absl::PermissionDeniedError(absl::StrCat(
            "cannot connect to the coordinator (", s.message(),
            ") and this site's certificate is not valid: ", own_certificate.message()));
        break;
      }
      const std::string lower = absl::AsciiStrToLower(s.message());
      if (absl::StrContains(lower, "handshake") || absl::StrContains(lower, "certificate") ||
          absl::StrContains(lower, "ssl")) {
        if (++handshake_failures >= 3) {
          exit_status = absl::PermissionDeniedError(absl::StrCat(
              "TLS with the coordinator failed ", handshake_failures,
              " times; check that its certificate is issued by the consortium CA in ",
              config_.tls.ca, " and names ", config_.coordinator_address, ": ", s.message()));
          break;
        }
      }
      const absl::Duration wait = Jitter(backoff);
      util::LogWarn(ctx, absl::StrCat("cannot reach the coordinator at ",
                                      config_.coordinator_address, ": ", s.message(),
                                      "; retrying in ", absl::FormatDuration(wait)));
      if (!SleepUnlessStopped(wait)) break;
      backoff = std::min(backoff * 2, config_.max_backoff);
      continue;
    }
    handshake_failures = 0;
    backoff = config_.initial_backoff;
    std::vector<std::string> studies(hello->studies().begin(), hello->studies().end());
    util::LogInfo(ctx, absl::StrCat("connected to ", hello->coordinator_version(), " at ",
                                    config_.coordinator_address, " as '", hello->site(),
                                    "'; studies: ", absl::StrJoin(studies, ", ")));
    for (const std::string& study : studies) {
      bool approved = false;
      for (const auto& a : config_.approved_studies) approved = approved || a.study_id == study;
      if (!approved) {
        util::LogWarn({study, -1, config_.site},
                      "this site is listed in the study but has not approved it; its tasks "
                      "will be refused");
      }
    }

    bool finished_all = false;
    while (!stop_.HasBeenNotified()) {
      bool finished = false;
      auto pulled = client_->PullTask(config_.poll_wait, &finished);
      if (!pulled.ok()) {
        if (stop_.HasBeenNotified()) break;
        if (absl::IsPermissionDenied(pulled.status())) {
          exit_status = absl::PermissionDeniedError(absl::StrCat(
              "the coordinator refused this site: ", pulled.status().message()));
          finished_all = true;
        } else {
          util::LogWarn(ctx, absl::StrCat("lost the coordinator: ", pulled.status().message(),
                                          "; reconnecting"));
        }
        break;
      }
      if (pulled->has_value()) {
        v1::Task task = std::move(**pulled);
        absl::MutexLock lock(&mu_);
        if (seen_.insert(task.task_id()).second) {
          queue_.push_back(std::move(task));
        } else if (auto it = pushed_.find(task.task_id()); it != pushed_.end()) {
          // Re-delivered after a reconnect: push the same result again
          // (idempotent at the coordinator).
          v1::TaskResult again = it->second;
          mu_.Unlock();
          PushWithRetry(task, again);
          mu_.Lock();
        }
        continue;
      }
      if (finished && options_.exit_when_done) {
        util::LogInfo(ctx, "every study of this site has finished; exiting");
        finished_all = true;
        break;
      }
    }
    if (finished_all) break;
  }
  {
    absl::MutexLock lock(&mu_);
    worker_exit_ = true;
  }
  worker.join();
  return exit_status;
}

}  // namespace cohort::site
