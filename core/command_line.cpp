#include "core/command_line.hpp"

namespace tasker::core {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// The characters a backslash escapes inside double quotes (POSIX 2.2.3).
bool escapable_in_double_quotes(char c) {
  return c == '"' || c == '\\' || c == '$' || c == '`' || c == '\n';
}

Error bad(std::string_view problem, std::string_view text) {
  return Error{ErrorCode::invalid_argument, std::string{problem}
                                                + " in command '"
                                                + std::string{text} + "'"};
}

} // namespace

Result<std::vector<std::string>> split_command_line(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  // A word may be empty ('' or ""), so "in a word" is not "word not empty".
  bool in_word = false;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (is_blank(c)) {
      if (in_word)
        words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      auto close = text.find('\'', i + 1);
      if (close == std::string_view::npos)
        return bad("unterminated single quote", text);
      word.append(text.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      in_word = true;
      ++i;
      for (;;) {
        if (i >= text.size())
          return bad("unterminated double quote", text);
        char q = text[i];
        if (q == '"') {
          ++i;
          break;
        }
        if (q == '\\' && i + 1 < text.size()
            && escapable_in_double_quotes(text[i + 1])) {
          if (text[i + 1] != '\n')
            word.push_back(text[i + 1]);
          i += 2;
        } else {
          word.push_back(q);
          ++i;
        }
      }
    } else if (c == '\\') {
      if (i + 1 >= text.size())
        return bad("trailing backslash", text);
      if (text[i + 1] != '\n') {
        word.push_back(text[i + 1]);
        in_word = true;
      }
      i += 2;
    } else {
      word.push_back(c);
      in_word = true;
      ++i;
    }
  }
  if (in_word)
    words.push_back(std::move(word));
  if (words.empty())
    return Error{ErrorCode::invalid_argument, "empty command"};
  return words;
}

} // namespace tasker::core
