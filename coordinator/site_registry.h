// The coordinator's view of connected sites: who has said hello, who is
// alive, and the queue of tasks waiting for each site.
//
// Sites only connect out, so the coordinator cannot push: tasks wait here
// until the site's long poll (PullTask) takes them. A task handed out stays
// "in flight" until its result arrives; if the site says hello again (the
// agent restarted) its in-flight tasks are queued again (at-least-once
// delivery, deduplicated by task id at the receiver).
//
// A site is live while it has a poll open or was seen within the liveness
// grace period; a round stops waiting for a site that is no longer live.
//
// Thread-safe.
#ifndef COHORT_COORDINATOR_SITE_REGISTRY_H_
#define COHORT_COORDINATOR_SITE_REGISTRY_H_

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cohort/v1/tasks.pb.h"
#include "common/util/clock.h"

namespace cohort::coordinator {

class SiteRegistry {
 public:
  SiteRegistry(const util::Clock* clock, absl::Duration liveness_grace);

  // Records a hello; re-queues the site's in-flight tasks.
  void OnHello(const std::string& site);

  void Enqueue(const std::string& site, v1::Task task);

  // Removes queued or in-flight tasks of `site` whose id starts with `prefix`
  // (a round that was abandoned).
  void Withdraw(const std::string& site, const std::string& task_id_prefix);

  // Blocks until a task for `site` is queued, `timeout` passes, `cancelled()`
  // returns true (checked periodically) or Shutdown() is called.
  std::optional<v1::Task> WaitForTask(const std::string& site, absl::Duration timeout,
                                      const std::function<bool()>& cancelled);

  // A result for `task_id` arrived: it is no longer in flight.
  void Acknowledge(const std::string& site, const std::string& task_id);

  bool HasJoined(const std::string& site) const;
  bool IsLive(const std::string& site) const;

  // Blocks until `predicate` (called with the mutex held, over the set of
  // joined sites) holds or `deadline` passes; returns whether it held.
  bool AwaitJoined(const std::function<bool(const std::set<std::string>&)>& predicate,
                   absl::Time deadline);

  // Wakes every waiter; later waits return at once.
  void Shutdown();

 private:
  struct SiteState {
    std::deque<v1::Task> queue;
    std::map<std::string, v1::Task> in_flight;
    int open_polls = 0;
    absl::Time last_seen = absl::InfinitePast();
  };

  const util::Clock* clock_;
  const absl::Duration liveness_grace_;
  mutable absl::Mutex mu_;
  std::map<std::string, SiteState> sites_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> joined_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cohort::coordinator

#endif  // COHORT_COORDINATOR_SITE_REGISTRY_H_
