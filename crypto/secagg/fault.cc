#include "crypto/secagg/fault.h"

#include <string>

#include "absl/strings/cord.h"

namespace cohort::secagg {

absl::Status Fault(v1::DropReason reason, absl::string_view message) {
  absl::StatusCode code;
  switch (reason) {
    case v1::MALFORMED:
      code = absl::StatusCode::kInvalidArgument;
      break;
    case v1::TOO_FEW_SURVIVORS:
      code = absl::StatusCode::kFailedPrecondition;
      break;
    case v1::MISSING_MESSAGE:
      code = absl::StatusCode::kDeadlineExceeded;
      break;
    default:
      code = absl::StatusCode::kPermissionDenied;
      break;
  }
  absl::Status status(code, message);
  status.SetPayload(kDropReasonPayloadUrl, absl::Cord(DropReasonName(reason)));
  return status;
}

v1::DropReason DropReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kDropReasonPayloadUrl);
  v1::DropReason reason = v1::DROP_REASON_UNSPECIFIED;
  if (payload.has_value() && v1::DropReason_Parse(std::string(*payload), &reason)) {
    return reason;
  }
  return v1::DROP_REASON_UNSPECIFIED;
}

std::string DropReasonName(v1::DropReason reason) {
  const std::string& name = v1::DropReason_Name(reason);
  return name.empty() ? "DROP_REASON_UNKNOWN" : name;
}

}  // namespace cohort::secagg
