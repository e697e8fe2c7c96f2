#include "core/command_line.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using tasker::core::ErrorCode;
using tasker::core::split_command_line;
using Words = std::vector<std::string>;

namespace {

Words split(std::string_view text) {
  auto words = split_command_line(text);
  REQUIRE_MESSAGE(words.ok(), words.error().to_string());
  return *words;
}

std::string refusal(std::string_view text) {
  auto words = split_command_line(text);
  REQUIRE_FALSE(words.ok());
  CHECK(words.error().code() == ErrorCode::invalid_argument);
  return words.error().message();
}

} // namespace

TEST_CASE("a command line splits at runs of whitespace") {
  CHECK(split("python3 handlers/charge_card.py")
        == Words{"python3", "handlers/charge_card.py"});
  CHECK(split("  a \t b\n\nc  ") == Words{"a", "b", "c"});
  CHECK(split("one") == Words{"one"});
}

TEST_CASE("a command line keeps single-quoted text literally") {
  CHECK(split(R"(sh -c 'echo "$HOME" \n; ls')")
        == Words{"sh", "-c", R"(echo "$HOME" \n; ls)"});
  CHECK(split("a'b c'd") == Words{"ab cd"});
  CHECK(split("x '' y") == Words{"x", "", "y"});
}

TEST_CASE("a command line unescapes only the special characters in double "
          "quotes") {
  CHECK(split(R"("a b" "q\"q" "s\\s" "d\$d" "b\`b")")
        == Words{"a b", "q\"q", "s\\s", "d$d", "b`b"});
  // Before any other character the backslash stays.
  CHECK(split(R"("\n\a")") == Words{R"(\n\a)"});
  CHECK(split("\"\"") == Words{""});
  CHECK(split("\"it's\"") == Words{"it's"});
  CHECK(split("\"line\\\njoined\"") == Words{"linejoined"});
}

TEST_CASE("a command line backslash outside quotes escapes the next "
          "character") {
  CHECK(split(R"(a\ b c\'d e\"f g\\h)") == Words{"a b", "c'd", "e\"f", "g\\h"});
  CHECK(split("one \\\n two") == Words{"one", "two"});
  CHECK(split("con\\\ntinued") == Words{"continued"});
}

TEST_CASE("a command line expands nothing") {
  CHECK(split("echo $HOME ~ *.py `id` a;b a|b $(x)")
        == Words{"echo", "$HOME", "~", "*.py", "`id`", "a;b", "a|b", "$(x)"});
}

TEST_CASE("a malformed command line is refused, naming the problem") {
  CHECK(refusal("echo 'x") == "unterminated single quote in command 'echo 'x'");
  CHECK(refusal(R"(echo "x)")
        == R"(unterminated double quote in command 'echo "x')");
  CHECK(refusal(R"(echo "x\")")
        == R"(unterminated double quote in command 'echo "x\"')");
  CHECK(refusal("echo x\\") == "trailing backslash in command 'echo x\\'");
  CHECK(refusal("") == "empty command");
  CHECK(refusal(" \t\n") == "empty command");
}
