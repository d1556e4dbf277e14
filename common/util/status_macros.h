// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr.
//
// Debian 12's Abseil (20220623) predates absl's own status macros, so Cohort
// keeps its pair here, in one header, and nowhere else.
#ifndef COHORT_COMMON_UTIL_STATUS_MACROS_H_
#define COHORT_COMMON_UTIL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define COHORT_STATUS_CONCAT_INNER_(a, b) a##b
#define COHORT_STATUS_CONCAT_(a, b) COHORT_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// if it is not OK.
#define RETURN_IF_ERROR(expr)                                   \
  do {                                                          \
    ::absl::Status cohort_status_ = (expr);                     \
    if (!cohort_status_.ok()) return cohort_status_;            \
  } while (false)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status, otherwise moves the value into `lhs`, which may be
// a declaration (`auto x`) or an existing lvalue.
#define ASSIGN_OR_RETURN(lhs, expr)                                            \
  COHORT_ASSIGN_OR_RETURN_IMPL_(                                               \
      COHORT_STATUS_CONCAT_(cohort_statusor_, __LINE__), lhs, expr)

#define COHORT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // COHORT_COMMON_UTIL_STATUS_MACROS_H_
