// Programmer-precondition checks for cohort_ml's non-fallible hot paths.
//
// Debian 12's Abseil (20220623) has no absl/log/check.h, so the numeric
// kernels (PredictProba, Gradient, Optimizer::Step, ...) use this to stop the
// process when a caller breaks a documented precondition such as mismatched
// shapes. It is not an error channel: anything that comes from a file, a
// config or a site is validated into an absl::Status before it gets here
// (LogisticRegression::ValidateExamples, TrainLocally, ValidateBinaryMetrics).
// Death tests cover each check. Replace with CHECK once Cohort has one.
#ifndef COHORT_COMMON_ML_INTERNAL_CHECK_H_
#define COHORT_COMMON_ML_INTERNAL_CHECK_H_

namespace cohort::ml::internal {

// Prints "file:line: check failed: condition (message)" to stderr and aborts.
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              const char* message);

}  // namespace cohort::ml::internal

#define COHORT_ML_CHECK(condition, message)                                 \
  do {                                                                      \
    if (!(condition)) {                                                     \
      ::cohort::ml::internal::CheckFailed(__FILE__, __LINE__, #condition,   \
                                          message);                         \
    }                                                                       \
  } while (false)

#endif  // COHORT_COMMON_ML_INTERNAL_CHECK_H_
