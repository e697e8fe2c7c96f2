#pragma once

#include "core/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace tasker::web {

/// A host and a port, as in "127.0.0.1:8080" or "[::1]:8080".
struct HostPort {
  /// A name or an address, without the brackets of an IPv6 address.
  std::string host;
  uint16_t port = 0;

  /// Parses "HOST:PORT". Fails naming `text` when the host or the port is
  /// missing or the port is not a number up to 65535.
  static core::Result<HostPort> parse(std::string_view text);

  /// Returns "HOST:PORT", bracketing an IPv6 address.
  std::string to_string() const;
};

} // namespace tasker::web
