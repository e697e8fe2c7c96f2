#pragma once

#include "core/result.hpp"

#include <map>
#include <string>
#include <string_view>

namespace tasker::web {

/// Decodes `%XX` escapes, e.g. "a%20b" to "a b". Fails naming `text` when a
/// `%` is not followed by two hex digits.
core::Result<std::string> percent_decode(std::string_view text);

/// Decodes a query string such as "a=1&b=x+y" into {a: "1", b: "x y"}: `+`
/// is a space, a name without `=` has an empty value, and of a repeated name
/// the first value wins. Fails naming the bad part when an escape is broken.
core::Result<std::map<std::string, std::string>>
parse_query(std::string_view query);

} // namespace tasker::web
