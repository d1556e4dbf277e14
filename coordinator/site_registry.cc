#include "coordinator/site_registry.h"

#include "absl/strings/match.h"

namespace cohort::coordinator {

SiteRegistry::SiteRegistry(const util::Clock* clock, absl::Duration liveness_grace)
    : clock_(clock), liveness_grace_(liveness_grace) {}

void SiteRegistry::OnHello(const std::string& site) {
  absl::MutexLock lock(&mu_);
  SiteState& state = sites_[site];
  state.last_seen = clock_->Now();
  joined_.insert(site);
  for (auto& [id, task] : state.in_flight) state.queue.push_back(task);
  state.in_flight.clear();
}

void SiteRegistry::Enqueue(const std::string& site, v1::Task task) {
  absl::MutexLock lock(&mu_);
  sites_[site].queue.push_back(std::move(task));
}

void SiteRegistry::Withdraw(const std::string& site, const std::string& prefix) {
  absl::MutexLock lock(&mu_);
  SiteState& state = sites_[site];
  std::deque<v1::Task> kept;
  for (auto& task : state.queue) {
    if (!absl::StartsWith(task.task_id(), prefix)) kept.push_back(std::move(task));
  }
  state.queue = std::move(kept);
  for (auto it = state.in_flight.begin(); it != state.in_flight.end();) {
    it = absl::StartsWith(it->first, prefix) ? state.in_flight.erase(it) : std::next(it);
  }
}

std::optional<v1::Task> SiteRegistry::WaitForTask(
    const std::string& site, absl::Duration timeout,
    const std::function<bool()>& cancelled) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  SiteState& state = sites_[site];
  state.open_polls++;
  state.last_seen = clock_->Now();
  std::optional<v1::Task> task;
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_ || !sites_[site].queue.empty();
  };
  while (true) {
    if (mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(200))) {
      if (shutdown_) break;
      SiteState& s = sites_[site];
      task = std::move(s.queue.front());
      s.queue.pop_front();
      s.in_flight[task->task_id()] = *task;
      break;
    }
    if (absl::Now() >= deadline || cancelled()) break;
  }
  SiteState& s = sites_[site];
  s.open_polls--;
  s.last_seen = clock_->Now();
  return task;
}

void SiteRegistry::Acknowledge(const std::string& site, const std::string& task_id) {
  absl::MutexLock lock(&mu_);
  SiteState& state = sites_[site];
  state.in_flight.erase(task_id);
  state.last_seen = clock_->Now();
}

bool SiteRegistry::HasJoined(const std::string& site) const {
  absl::MutexLock lock(&mu_);
  return joined_.contains(site);
}

bool SiteRegistry::IsLive(const std::string& site) const {
  absl::MutexLock lock(&mu_);
  auto it = sites_.find(site);
  if (it == sites_.end()) return false;
  return it->second.open_polls > 0 ||
         clock_->Now() - it->second.last_seen <= liveness_grace_;
}

bool SiteRegistry::AwaitJoined(
    const std::function<bool(const std::set<std::string>&)>& predicate,
    absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto cond = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_ || predicate(joined_);
  };
  mu_.AwaitWithDeadline(absl::Condition(&cond), deadline);
  return !shutdown_ && predicate(joined_);
}

void SiteRegistry::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

}  // namespace cohort::coordinator
