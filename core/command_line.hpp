#pragma once

#include "core/result.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tasker::core {

/// Splits a command into argv words the way a POSIX shell quotes, and does
/// nothing else: whitespace separates words; '...' is literal; inside "..."
/// a backslash escapes only `"`, `\`, `$`, backquote and newline (and is kept
/// before any other character); outside quotes a backslash escapes the next
/// character; backslash-newline joins lines. Nothing is expanded: `$HOME`,
/// `*`, `~`, backquotes, `;` and `|` are ordinary characters. Errors name the
/// problem and the command (unterminated quote, trailing backslash, empty
/// command).
Result<std::vector<std::string>> split_command_line(std::string_view text);

} // namespace tasker::core
