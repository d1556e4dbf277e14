// SiteRegistry: task queues per site behind a long poll, at-least-once
// delivery across agent restarts, liveness on a simulated clock, and waits
// that end on cancellation or shutdown. Waits are on events with deadlines.
#include "coordinator/site_registry.h"

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/util/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::coordinator {
namespace {

constexpr absl::Duration kGrace = absl::Seconds(5);
// How long a test waits for something that should happen promptly; far
// below the timeouts the waits are given, so success proves an early wake-up.
constexpr absl::Duration kPrompt = absl::Seconds(10);
constexpr absl::Duration kLongTimeout = absl::Seconds(120);
// A poll that should find nothing; WaitForTask re-checks every 200 ms.
constexpr absl::Duration kShortPoll = absl::Milliseconds(1);

v1::Task MakeTask(const std::string& id) {
  v1::Task task;
  task.set_task_id(id);
  task.set_study_id("study");
  return task;
}

bool Never() { return false; }

class SiteRegistryTest : public ::testing::Test {
 protected:
  // The next task for `site` within kPrompt, or nullopt.
  std::optional<std::string> NextTaskId(const std::string& site,
                                        absl::Duration timeout = kPrompt) {
    std::optional<v1::Task> task = registry_.WaitForTask(site, timeout, Never);
    if (!task.has_value()) return std::nullopt;
    return task->task_id();
  }

  util::SimulatedClock clock_{absl::FromUnixSeconds(1'700'000'000)};
  SiteRegistry registry_{&clock_, kGrace};
};

TEST_F(SiteRegistryTest, EnqueuedTasksAreHandedOutInOrder) {
  registry_.Enqueue("cleveland", MakeTask("t1"));
  registry_.Enqueue("cleveland", MakeTask("t2"));
  std::optional<v1::Task> first = registry_.WaitForTask("cleveland", kPrompt, Never);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->task_id(), "t1");
  EXPECT_EQ(first->study_id(), "study");
  EXPECT_EQ(NextTaskId("cleveland"), "t2");
  EXPECT_EQ(NextTaskId("cleveland", kShortPoll), std::nullopt);
}

TEST_F(SiteRegistryTest, TasksGoOnlyToTheirSite) {
  registry_.Enqueue("va", MakeTask("for-va"));
  EXPECT_EQ(NextTaskId("cleveland", kShortPoll), std::nullopt);
  EXPECT_EQ(NextTaskId("va"), "for-va");
}

TEST_F(SiteRegistryTest, WaitingPollIsWokenByEnqueue) {
  std::optional<v1::Task> received;
  absl::Notification polling, done;
  std::thread poller([&] {
    received = registry_.WaitForTask("cleveland", kLongTimeout, [&] {
      if (!polling.HasBeenNotified()) polling.Notify();
      return false;
    });
    done.Notify();
  });
  ASSERT_TRUE(polling.WaitForNotificationWithTimeout(kPrompt));
  registry_.Enqueue("cleveland", MakeTask("late"));
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kPrompt));
  poller.join();
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(received->task_id(), "late");
}

TEST_F(SiteRegistryTest, CancelledPollReturnsLongBeforeItsTimeout) {
  std::atomic<bool> cancel{false};
  std::optional<v1::Task> received = MakeTask("sentinel");
  absl::Notification polling, done;
  const absl::Time start = absl::Now();
  std::thread poller([&] {
    received = registry_.WaitForTask("cleveland", kLongTimeout, [&] {
      if (!polling.HasBeenNotified()) polling.Notify();
      return cancel.load();
    });
    done.Notify();
  });
  ASSERT_TRUE(polling.WaitForNotificationWithTimeout(kPrompt));
  EXPECT_FALSE(done.HasBeenNotified());
  cancel = true;
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kPrompt));
  poller.join();
  EXPECT_EQ(received, std::nullopt);
  EXPECT_LT(absl::Now() - start, kLongTimeout / 2);
}

TEST_F(SiteRegistryTest, HelloRequeuesInFlightTasks) {
  registry_.Enqueue("cleveland", MakeTask("t1"));
  ASSERT_EQ(NextTaskId("cleveland"), "t1");
  // Handed out, not yet answered: not queued any more...
  EXPECT_EQ(NextTaskId("cleveland", kShortPoll), std::nullopt);
  // ...until the agent restarts and says hello again.
  registry_.OnHello("cleveland");
  EXPECT_EQ(NextTaskId("cleveland"), "t1");
}

TEST_F(SiteRegistryTest, AcknowledgedTaskIsNotRedelivered) {
  registry_.Enqueue("cleveland", MakeTask("t1"));
  registry_.Enqueue("cleveland", MakeTask("t2"));
  ASSERT_EQ(NextTaskId("cleveland"), "t1");
  ASSERT_EQ(NextTaskId("cleveland"), "t2");
  registry_.Acknowledge("cleveland", "t1");
  registry_.OnHello("cleveland");
  EXPECT_EQ(NextTaskId("cleveland"), "t2");
  EXPECT_EQ(NextTaskId("cleveland", kShortPoll), std::nullopt);
}

TEST_F(SiteRegistryTest, HelloOfAnotherSiteRequeuesNothing) {
  registry_.Enqueue("cleveland", MakeTask("t1"));
  ASSERT_EQ(NextTaskId("cleveland"), "t1");
  registry_.OnHello("va");
  EXPECT_EQ(NextTaskId("cleveland", kShortPoll), std::nullopt);
  EXPECT_EQ(NextTaskId("va", kShortPoll), std::nullopt);
}

TEST_F(SiteRegistryTest, WithdrawRemovesQueuedAndInFlightTasksByPrefix) {
  registry_.Enqueue("cleveland", MakeTask("round-1/stats"));
  ASSERT_EQ(NextTaskId("cleveland"), "round-1/stats");  // now in flight
  registry_.Enqueue("cleveland", MakeTask("round-1/train"));
  registry_.Enqueue("cleveland", MakeTask("round-2/train"));
  registry_.Enqueue("cleveland", MakeTask("round-10/train"));
  registry_.Enqueue("va", MakeTask("round-1/train"));

  registry_.Withdraw("cleveland", "round-1/");
  registry_.OnHello("cleveland");  // would re-queue round-1/stats if still in flight
  EXPECT_EQ(NextTaskId("cleveland"), "round-2/train");
  EXPECT_EQ(NextTaskId("cleveland"), "round-10/train");
  EXPECT_EQ(NextTaskId("cleveland", kShortPoll), std::nullopt);
  // Other sites keep their tasks.
  EXPECT_EQ(NextTaskId("va"), "round-1/train");
}

TEST_F(SiteRegistryTest, UnknownSiteIsNeitherJoinedNorLive) {
  EXPECT_FALSE(registry_.HasJoined("nobody"));
  EXPECT_FALSE(registry_.IsLive("nobody"));
}

TEST_F(SiteRegistryTest, HelloJoinsAndMakesLiveForTheGracePeriod) {
  registry_.OnHello("cleveland");
  EXPECT_TRUE(registry_.HasJoined("cleveland"));
  EXPECT_TRUE(registry_.IsLive("cleveland"));
  clock_.Advance(kGrace);
  EXPECT_TRUE(registry_.IsLive("cleveland"));
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(registry_.IsLive("cleveland"));
  EXPECT_TRUE(registry_.HasJoined("cleveland"));
}

TEST_F(SiteRegistryTest, OpenPollKeepsASiteLiveThenGraceRunsFromItsEnd) {
  std::atomic<bool> cancel{false};
  absl::Notification polling, done;
  std::thread poller([&] {
    registry_.WaitForTask("cleveland", kLongTimeout, [&] {
      if (!polling.HasBeenNotified()) polling.Notify();
      return cancel.load();
    });
    done.Notify();
  });
  ASSERT_TRUE(polling.WaitForNotificationWithTimeout(kPrompt));
  // Far past the grace period, but the poll is still open.
  clock_.Advance(kGrace * 10);
  EXPECT_TRUE(registry_.IsLive("cleveland"));

  cancel = true;
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPrompt));
  poller.join();
  // The poll ended "now": live for the grace period after it.
  EXPECT_TRUE(registry_.IsLive("cleveland"));
  clock_.Advance(kGrace - absl::Milliseconds(1));
  EXPECT_TRUE(registry_.IsLive("cleveland"));
  clock_.Advance(absl::Milliseconds(2));
  EXPECT_FALSE(registry_.IsLive("cleveland"));
}

TEST_F(SiteRegistryTest, AcknowledgeCountsAsSeen) {
  registry_.OnHello("cleveland");
  clock_.Advance(kGrace * 2);
  ASSERT_FALSE(registry_.IsLive("cleveland"));
  registry_.Acknowledge("cleveland", "whatever");
  EXPECT_TRUE(registry_.IsLive("cleveland"));
}

TEST_F(SiteRegistryTest, AwaitJoinedWakesWhenThePredicateHolds) {
  std::atomic<bool> result{false};
  absl::Notification waiting, done;
  std::thread waiter([&] {
    result = registry_.AwaitJoined(
        [&](const std::set<std::string>& joined) {
          if (!waiting.HasBeenNotified()) waiting.Notify();
          return joined.size() >= 2;
        },
        absl::Now() + kLongTimeout);
    done.Notify();
  });
  ASSERT_TRUE(waiting.WaitForNotificationWithTimeout(kPrompt));
  registry_.OnHello("cleveland");
  EXPECT_FALSE(done.WaitForNotificationWithTimeout(absl::ZeroDuration()));
  registry_.OnHello("va");
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kPrompt));
  waiter.join();
  EXPECT_TRUE(result);
}

TEST_F(SiteRegistryTest, AwaitJoinedReturnsFalseAtTheDeadline) {
  registry_.OnHello("cleveland");
  EXPECT_FALSE(registry_.AwaitJoined(
      [](const std::set<std::string>& joined) { return joined.contains("va"); },
      absl::Now() + absl::Milliseconds(1)));
  EXPECT_TRUE(registry_.AwaitJoined(
      [](const std::set<std::string>& joined) { return joined.contains("cleveland"); },
      absl::Now()));
}

TEST_F(SiteRegistryTest, ShutdownWakesEveryWaiter) {
  std::atomic<bool> joined_result{true};
  std::optional<v1::Task> task = MakeTask("sentinel");
  absl::Notification join_waiting, join_done, polling, poll_done;
  std::thread join_waiter([&] {
    joined_result = registry_.AwaitJoined(
        [&](const std::set<std::string>&) {
          if (!join_waiting.HasBeenNotified()) join_waiting.Notify();
          return false;
        },
        absl::Now() + kLongTimeout);
    join_done.Notify();
  });
  std::thread poller([&] {
    task = registry_.WaitForTask("cleveland", kLongTimeout, [&] {
      if (!polling.HasBeenNotified()) polling.Notify();
      return false;
    });
    poll_done.Notify();
  });
  ASSERT_TRUE(join_waiting.WaitForNotificationWithTimeout(kPrompt));
  ASSERT_TRUE(polling.WaitForNotificationWithTimeout(kPrompt));

  registry_.Shutdown();
  EXPECT_TRUE(join_done.WaitForNotificationWithTimeout(kPrompt));
  EXPECT_TRUE(poll_done.WaitForNotificationWithTimeout(kPrompt));
  join_waiter.join();
  poller.join();
  EXPECT_FALSE(joined_result);
  EXPECT_EQ(task, std::nullopt);
}

TEST_F(SiteRegistryTest, WaitsAfterShutdownReturnAtOnce) {
  registry_.Enqueue("cleveland", MakeTask("t1"));
  registry_.Shutdown();
  const absl::Time start = absl::Now();
  EXPECT_EQ(NextTaskId("cleveland", kLongTimeout), std::nullopt);
  EXPECT_FALSE(registry_.AwaitJoined([](const std::set<std::string>&) { return true; },
                                     absl::Now() + kLongTimeout));
  EXPECT_LT(absl::Now() - start, kPrompt);
}

}  // namespace
}  // namespace cohort::coordinator
