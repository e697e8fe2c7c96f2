#pragma once

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

namespace tasker::testing {

/// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "tasker_test")
      : path_(std::filesystem::temp_directory_path()
              / (std::string{prefix} + "_"
                 + std::to_string(std::random_device{}()))) {
    std::filesystem::create_directories(path_);
  }

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  const std::filesystem::path& path() const {
    return path_;
  }

  /// Writes `content` to `relative` (creating folders) and returns its path.
  std::filesystem::path write(const std::filesystem::path& relative,
                              std::string_view content) const {
    auto file = path_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out{file.string(), std::ios::binary};
    out << content;
    return file;
  }

 private:
  std::filesystem::path path_;
};

} // namespace tasker::testing
