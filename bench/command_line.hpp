#pragma once

#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tasker::bench {

/// Walks a benchmark's arguments and keeps the command line as given, so
/// that the benchmark can print the exact command its figures came from.
class CommandLine {
 public:
  CommandLine(int argc, char** argv)
      : argc_(argc), argv_(argv), text_(argv[0]) {}

  /// Moves to the next argument; false after the last one.
  bool next() {
    if (++i_ >= argc_)
      return false;
    arg_ = argv_[i_];
    text_ += " " + arg_;
    return true;
  }

  /// The current argument, e.g. "--runs".
  const std::string& arg() const {
    return arg_;
  }

  /// Takes the current argument's value; throws `std::invalid_argument`
  /// naming the argument when there is none.
  std::string value() {
    if (i_ + 1 >= argc_)
      throw std::invalid_argument(arg_ + " needs a value");
    std::string out = argv_[++i_];
    text_ += " " + out;
    return out;
  }

  /// Takes the current argument's value as a whole number; throws
  /// `std::invalid_argument` naming the argument and the value otherwise.
  int64_t number() {
    auto text = value();
    int64_t out = 0;
    auto [end, error]
        = std::from_chars(text.data(), text.data() + text.size(), out);
    if (error != std::errc{} || end != text.data() + text.size())
      throw std::invalid_argument(arg_ + ": '" + text
                                  + "' is not a whole number");
    return out;
  }

  /// The command line read so far.
  const std::string& text() const {
    return text_;
  }

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string arg_;
  std::string text_;
};

} // namespace tasker::bench
