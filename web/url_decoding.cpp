#include "web/url_decoding.hpp"

#include <algorithm>

namespace tasker::web {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

core::Result<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (high < 0 || low < 0)
      return core::Error{core::ErrorCode::invalid_argument,
                         "invalid percent-encoding in '" + std::string{text}
                             + "'"};
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

core::Result<std::map<std::string, std::string>>
parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto end = query.find('&');
    auto part = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view{}
                                          : query.substr(end + 1);
    if (part.empty())
      continue;
    std::string spaced{part};
    std::ranges::replace(spaced, '+', ' ');
    auto equals = spaced.find('=');
    auto name = percent_decode(std::string_view{spaced}.substr(0, equals));
    if (!name)
      return name.error();
    auto value
        = percent_decode(equals == std::string::npos
                             ? std::string_view{}
                             : std::string_view{spaced}.substr(equals + 1));
    if (!value)
      return value.error();
    out.emplace(std::move(*name), std::move(*value));
  }
  return out;
}

} // namespace tasker::web
