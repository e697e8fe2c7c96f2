#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace tasker::orchestration {

/// Returns the SHA-256 digest of `data` as 64 lowercase hex characters.
std::string sha256_hex(std::string_view data);

/// Returns the identity of a task request, a 64-hex-char SHA-256 that
/// deduplicates requests: with an `idempotency_key`, the hash of namespace,
/// name, version and the key; without one, of namespace, name, version and
/// the canonical context (`context.dump()`, which sorts object keys, so key
/// order does not matter). Each field is hashed as a netstring
/// (`<length>:<bytes>,`), and the fourth field names the kind ("key" or
/// "context"), so no two different inputs share an encoding. Stored hashes
/// depend on this encoding: changing it breaks deduplication. Strings in the
/// context that are not valid UTF-8 are hashed with U+FFFD in place of the
/// invalid bytes.
std::string task_identity_hash(std::string_view namespace_name,
                               std::string_view task_name,
                               std::string_view version,
                               const nlohmann::json& context,
                               std::optional<std::string_view> idempotency_key);

} // namespace tasker::orchestration
