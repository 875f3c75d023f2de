#ifndef ENRICH_SCHEMA_STATUS_MACROS_H_
#define ENRICH_SCHEMA_STATUS_MACROS_H_

// ENRICH_RETURN_IF_ERROR and ENRICH_ASSIGN_OR_RETURN, the absl::Status plumbing every layer
// uses (Abseil 20220623, Debian 12's, has no public status macros). Part of schema, the bottom
// layer; no I/O.
//
//   ENRICH_RETURN_IF_ERROR(DoThing());
//   ENRICH_ASSIGN_OR_RETURN(auto value, ComputeValue());
//   ENRICH_ASSIGN_OR_RETURN(existing, ComputeValue());

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ENRICH_RETURN_IF_ERROR(expr)                          \
  do {                                                        \
    if (::absl::Status enrich_status_ = (expr); !enrich_status_.ok()) { \
      return enrich_status_;                                  \
    }                                                         \
  } while (false)

#define ENRICH_STATUS_CONCAT_INNER_(a, b) a##b
#define ENRICH_STATUS_CONCAT_(a, b) ENRICH_STATUS_CONCAT_INNER_(a, b)

#define ENRICH_ASSIGN_OR_RETURN(lhs, expr) \
  ENRICH_ASSIGN_OR_RETURN_IMPL_(ENRICH_STATUS_CONCAT_(enrich_statusor_, __LINE__), lhs, expr)

#define ENRICH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) {                                    \
    return std::move(statusor).status();                   \
  }                                                        \
  lhs = *std::move(statusor)

#endif  // ENRICH_SCHEMA_STATUS_MACROS_H_
