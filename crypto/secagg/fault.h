// Statuses that say why a secure-aggregation party was dropped or a request
// refused: an absl::Status whose payload carries a cohort.v1.DropReason, so
// the reason travels with the error through StatusOr-returning code and a
// caller (the server's drop table, a test, a gRPC adapter) can read it back.
//
// Thread-safe: free functions without state.
#ifndef COHORT_CRYPTO_SECAGG_FAULT_H_
#define COHORT_CRYPTO_SECAGG_FAULT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cohort/v1/secagg.pb.h"

namespace cohort::secagg {

// Type URL of the payload holding the reason's enum name.
inline constexpr absl::string_view kDropReasonPayloadUrl =
    "type.googleapis.com/cohort.v1.DropReason";

// A non-OK status tagged with `reason`. The code follows the reason:
// MALFORMED -> InvalidArgument, TOO_FEW_SURVIVORS -> FailedPrecondition,
// MISSING_MESSAGE -> DeadlineExceeded, everything else -> PermissionDenied.
absl::Status Fault(v1::DropReason reason, absl::string_view message);

// The reason a status was tagged with by Fault(), or DROP_REASON_UNSPECIFIED.
v1::DropReason DropReasonOf(const absl::Status& status);

// "BAD_SIGNATURE", ... (the proto enum's name).
std::string DropReasonName(v1::DropReason reason);

}  // namespace cohort::secagg

#endif  // COHORT_CRYPTO_SECAGG_FAULT_H_
