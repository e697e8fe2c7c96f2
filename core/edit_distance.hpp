#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tasker::core {

/// Returns the edit distance between two strings, counting insertions,
/// deletions, substitutions and swaps of adjacent characters.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// Returns the candidate closest to `word` within `max_distance` edits, or
/// empty: the "did you mean ...?" of error messages. Words of n characters
/// match within at most (n + 1) / 2 - 1 edits.
std::string closest_match(std::string_view word,
                          const std::vector<std::string>& candidates,
                          std::size_t max_distance = 2);

} // namespace tasker::core
