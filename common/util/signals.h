// Orderly shutdown on SIGINT/SIGTERM for long-running daemons.
//
// Call BlockTerminationSignals() first thing in main(), before any thread is
// started, so every thread inherits the mask; then WatchTerminationSignals()
// runs `on_signal` on a dedicated (detached) thread when a signal arrives.
#ifndef COHORT_COMMON_UTIL_SIGNALS_H_
#define COHORT_COMMON_UTIL_SIGNALS_H_

#include <csignal>
#include <functional>
#include <thread>

namespace cohort::util {

inline void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

inline void WatchTerminationSignals(std::function<void(int)> on_signal) {
  std::thread([on_signal = std::move(on_signal)] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    if (sigwait(&set, &sig) == 0) on_signal(sig);
  }).detach();
}

}  // namespace cohort::util

#endif  // COHORT_COMMON_UTIL_SIGNALS_H_
