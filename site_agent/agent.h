// The site agent's main loop: connect out to the coordinator, say hello,
// long-poll for tasks, execute them one at a time on a worker thread and push
// the results back. On any connection error it reconnects with exponential
// backoff and jitter; it never listens on a port.
//
// Run() returns when Stop() is called (OK), when the coordinator says every
// study has finished and `exit_when_done` is set (OK), or when the
// coordinator refuses this site (PermissionDenied with the reason).
//
// Thread-safe: Stop() may be called from any thread (signal watcher).
#ifndef COHORT_SITE_AGENT_AGENT_H_
#define COHORT_SITE_AGENT_AGENT_H_

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "site_agent/coordinator_client.h"
#include "site_agent/site_config.h"
#include "site_agent/task_executor.h"

namespace cohort::site {

struct AgentOptions {
  bool exit_when_done = false;
  std::string version = "cohort-site 0.1.0";
};

class SiteAgent {
 public:
  SiteAgent(const SiteConfig& config, AgentOptions options,
            std::unique_ptr<CoordinatorClient> client);
  ~SiteAgent();

  TaskExecutor& executor() { return executor_; }

  absl::Status Run();
  void Stop();

 private:
  void WorkerLoop();
  void PushWithRetry(const v1::Task& task, const v1::TaskResult& result);
  // Sleeps for `d` unless stopped first; returns false if stopped.
  bool SleepUnlessStopped(absl::Duration d);
  absl::Duration Jitter(absl::Duration backoff);

  const SiteConfig& config_;
  const AgentOptions options_;
  std::unique_ptr<CoordinatorClient> client_;
  TaskExecutor executor_;
  absl::Notification stop_;
  absl::BitGen jitter_gen_;

  absl::Mutex mu_;
  std::deque<v1::Task> queue_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::TaskResult> pushed_ ABSL_GUARDED_BY(mu_);
  bool worker_exit_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cohort::site

#endif  // COHORT_SITE_AGENT_AGENT_H_
