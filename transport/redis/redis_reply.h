#ifndef ENRICH_TRANSPORT_REDIS_REDIS_REPLY_H_
#define ENRICH_TRANSPORT_REDIS_REDIS_REPLY_H_

// One Redis reply as a plain value (a copy of hiredis' redisReply tree), what RedisClient hands
// to its callbacks; and the mark of a failure that means "Redis is not there" (as opposed to a
// Redis error reply), which callers read to go on locally.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace enrich::transport {

struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;        // kString (bulk, binary-safe) and kStatus ("OK")
  int64_t integer = 0;    // kInteger
  std::vector<RedisReply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
};

// Redis could not be asked: not connected (reconnecting after a backoff), the connection was
// lost or timed out with the command in flight, or it was never reached. Code Unavailable,
// message "redis <endpoint>: ...", marked so IsRedisUnavailable() tells it from other
// failures. An error *reply* (WRONGTYPE, a script error) is an Internal error without the mark.
absl::Status RedisUnavailable(absl::string_view message);
bool IsRedisUnavailable(const absl::Status& status);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_REDIS_REPLY_H_
