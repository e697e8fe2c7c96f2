#include "config/template_catalog.hpp"

#include "config/queue_names.hpp"
#include "config/template_validator.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

namespace tasker::config {

namespace {

namespace fs = std::filesystem;

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (auto pos = text.find(sep); pos != std::string_view::npos;
       pos = text.find(sep, start)) {
    parts.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

bool is_number(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
}

int sign(int value) {
  return (value > 0) - (value < 0);
}

// Compares digit strings of any length without converting them.
int compare_numbers(std::string_view a, std::string_view b) {
  a.remove_prefix(std::min(a.find_first_not_of('0'), a.size()));
  b.remove_prefix(std::min(b.find_first_not_of('0'), b.size()));
  if (a.size() != b.size())
    return a.size() < b.size() ? -1 : 1;
  return sign(a.compare(b));
}

// Numbers compare numerically and sort before text, as in semver
// pre-release identifiers.
int compare_identifiers(std::string_view a, std::string_view b) {
  bool num_a = is_number(a);
  bool num_b = is_number(b);
  if (num_a && num_b)
    return compare_numbers(a, b);
  if (num_a != num_b)
    return num_a ? -1 : 1;
  return sign(a.compare(b));
}

int compare_release(std::string_view a, std::string_view b) {
  auto pa = split(a, '.');
  auto pb = split(b, '.');
  for (std::size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    auto x = i < pa.size() ? pa[i] : "0";
    auto y = i < pb.size() ? pb[i] : "0";
    if (auto c = compare_identifiers(x, y); c != 0)
      return c;
  }
  return 0;
}

int compare_prerelease(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty())
    return a.empty() == b.empty() ? 0 : (a.empty() ? 1 : -1);
  auto pa = split(a, '.');
  auto pb = split(b, '.');
  for (std::size_t i = 0; i < std::min(pa.size(), pb.size()); ++i)
    if (auto c = compare_identifiers(pa[i], pb[i]); c != 0)
      return c;
  return sign(static_cast<int>(pa.size()) - static_cast<int>(pb.size()));
}

std::pair<std::string_view, std::string_view>
split_version(std::string_view version) {
  version = version.substr(0, version.find('+'));
  auto dash = version.find('-');
  if (dash == std::string_view::npos)
    return {version, {}};
  return {version.substr(0, dash), version.substr(dash + 1)};
}

bool is_template_file(const fs::path& path) {
  auto ext = path.extension();
  return ext == ".yaml" || ext == ".yml";
}

core::Result<std::vector<fs::path>> template_files(const fs::path& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (!fs::exists(status))
    return core::Error{core::ErrorCode::io_error,
                       "template path '" + path.string() + "' "
                           + (ec && ec != std::errc::no_such_file_or_directory
                                  ? "cannot be accessed: " + ec.message()
                                  : "does not exist")};
  if (!fs::is_directory(status))
    return std::vector<fs::path>{path};
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it{path, ec};
  for (; !ec && it != fs::recursive_directory_iterator{}; it.increment(ec)) {
    std::error_code entry_ec;
    if (is_template_file(it->path()) && it->is_regular_file(entry_ec))
      files.push_back(it->path());
  }
  if (ec)
    return core::Error{core::ErrorCode::io_error,
                       "cannot list template directory '" + path.string()
                           + "': " + ec.message()};
  if (files.empty())
    return core::Error{core::ErrorCode::not_found,
                       "no *.yaml or *.yml template files under '"
                           + path.string() + "'"};
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

int compare_versions(std::string_view a, std::string_view b) {
  auto [release_a, pre_a] = split_version(a);
  auto [release_b, pre_b] = split_version(b);
  if (auto c = compare_release(release_a, release_b); c != 0)
    return c;
  return compare_prerelease(pre_a, pre_b);
}

core::Result<TemplateCatalog>
TemplateCatalog::load(const std::filesystem::path& path,
                      std::vector<TemplateDiagnostic>* diagnostics) {
  auto files = template_files(path);
  if (!files)
    return files.error();
  TemplateCatalog catalog;
  std::vector<TemplateDiagnostic> all;
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, std::string> defined_in;
  for (const auto& file : *files) {
    auto parsed = parse_template_file(file);
    auto found = std::move(parsed.diagnostics);
    if (!has_errors(found)) {
      auto invalid = validate_template(parsed.task_template);
      found.insert(found.end(), invalid.begin(), invalid.end());
    }
    auto& tpl = parsed.task_template;
    if (!has_errors(found)) {
      Key key{tpl.namespace_name, tpl.name, tpl.version};
      auto [it, added] = defined_in.emplace(key, tpl.source_file);
      if (added)
        catalog.templates_.push_back(std::move(tpl));
      else
        found.push_back(TemplateDiagnostic{
            DiagnosticSeverity::error, tpl.source_file, 0, std::nullopt,
            "template '" + tpl.namespace_name + "/" + tpl.name + "' version '"
                + tpl.version + "' is already defined in '" + it->second
                + "'"});
    }
    all.insert(all.end(), found.begin(), found.end());
  }
  for (const auto& d : all)
    if (d.severity == DiagnosticSeverity::warning)
      catalog.warnings_.push_back(d);
  if (diagnostics)
    *diagnostics = all;
  if (has_errors(all)) {
    std::string message;
    for (const auto& d : all) {
      if (d.severity != DiagnosticSeverity::error)
        continue;
      if (!message.empty())
        message += '\n';
      message += d.to_string();
    }
    return core::Error{core::ErrorCode::invalid_template, std::move(message)};
  }
  return catalog;
}

const TaskTemplate*
TemplateCatalog::find(std::string_view namespace_name, std::string_view name,
                      std::optional<std::string_view> version) const {
  const TaskTemplate* best = nullptr;
  for (const auto& tpl : templates_) {
    if (tpl.namespace_name != namespace_name || tpl.name != name)
      continue;
    if (version) {
      if (tpl.version == *version)
        return &tpl;
    } else if (!best || compare_versions(tpl.version, best->version) > 0) {
      best = &tpl;
    }
  }
  return best;
}

std::vector<std::string> TemplateCatalog::namespaces() const {
  std::set<std::string> unique;
  for (const auto& tpl : templates_)
    unique.insert(tpl.namespace_name);
  return {unique.begin(), unique.end()};
}

std::vector<std::string> TemplateCatalog::queue_names() const {
  std::vector<std::string> queues;
  for (const auto& ns : namespaces())
    queues.push_back(worker_queue_name(ns));
  return queues;
}

} // namespace tasker::config
