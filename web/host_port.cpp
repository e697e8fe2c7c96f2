#include "web/host_port.hpp"

#include <charconv>

namespace tasker::web {

core::Result<HostPort> HostPort::parse(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return core::Error{core::ErrorCode::invalid_argument,
                       "invalid address '" + std::string{text}
                           + "': " + std::string{why}
                           + " (expected HOST:PORT, e.g. 127.0.0.1:8080)"};
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return invalid("no port");
  auto host = text.substr(0, colon);
  auto port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return invalid("an IPv6 address needs brackets");
  if (host.empty())
    return invalid("no host");
  unsigned value = 0;
  auto [end, ec]
      = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size()
      || value > 65535)
    return invalid("the port must be a number from 0 to 65535");
  return HostPort{std::string{host}, static_cast<uint16_t>(value)};
}

std::string HostPort::to_string() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

} // namespace tasker::web
