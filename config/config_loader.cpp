#include "config/config_loader.hpp"

#include "config/config_schema.hpp"
#include "core/edit_distance.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

extern char** environ;

namespace tasker::config {

namespace {

constexpr std::string_view kConfigPathVariable = "TASKER_CONFIG_PATH";

std::string where(const std::string& source, const toml::node& node) {
  auto line = node.source().begin.line;
  return line > 0 ? source + ":" + std::to_string(line) : source;
}

std::string render_node(const toml::node& node) {
  std::ostringstream out;
  if (auto text = node.as_string())
    out << '"' << text->get() << '"';
  else if (node.is_table())
    out << "{ ... }";
  else
    node.visit([&out](auto&& x) {
      out << x;
    });
  return out.str();
}

ConfigValue to_value(const toml::node& node) {
  if (auto x = node.as_boolean())
    return x->get();
  if (auto x = node.as_integer())
    return x->get();
  if (auto x = node.as_floating_point())
    return x->get();
  if (auto x = node.as_string())
    return x->get();
  if (auto xs = node.as_array()) {
    std::vector<std::string> items;
    for (auto& item : *xs) {
      auto text = item.as_string();
      if (!text)
        return OtherValue{"an array of non-strings"};
      items.push_back(text->get());
    }
    return items;
  }
  if (node.is_table())
    return OtherValue{"a table"};
  return OtherValue{"a date or time"};
}

class Assembler {
 public:
  explicit Assembler(const Environment& env) : env_(env) {
    for (auto& s : ConfigSchema::instance().settings())
      loaded_.origins[s.key] = "default";
  }

  void apply_table(const toml::table& table, const std::string& prefix,
                   const std::string& source) {
    auto& schema = ConfigSchema::instance();
    for (auto& [name, node] : table) {
      auto key = prefix.empty() ? std::string{name.str()}
                                : prefix + "." + std::string{name.str()};
      if (auto setting = schema.find(key)) {
        auto problem = setting->set(loaded_.config, to_value(node));
        if (!problem.empty())
          problems_.push_back(key + " = " + render_node(node) + " ("
                              + where(source, node) + "): " + problem);
        else
          loaded_.origins[key] = "file";
        continue;
      }
      if (auto sub = node.as_table(); sub && schema.is_section(key)) {
        apply_table(*sub, key, source);
        continue;
      }
      auto message = "unknown key '" + key + "' (" + where(source, node) + ")";
      if (auto near = schema.suggest(key); !near.empty())
        message += "; did you mean '" + near + "'?";
      problems_.push_back(message);
    }
  }

  void apply_environment() {
    auto& schema = ConfigSchema::instance();
    for (auto& s : schema.settings()) {
      auto it = env_.find(s.env);
      if (it == env_.end())
        continue;
      auto problem = s.set_text(loaded_.config, it->second);
      if (!problem.empty())
        problems_.push_back(s.env + " = \"" + it->second
                            + "\" (environment, sets " + s.key
                            + "): " + problem);
      else
        loaded_.origins[s.key] = s.env;
    }
    for (auto& [name, value] : env_) {
      if (!name.starts_with("TASKER_") || name.starts_with("TASKER_TEST_")
          || name == kConfigPathVariable || known_variable(name))
        continue;
      auto message = "environment variable " + name
                     + " is not a Tasker setting and is ignored";
      if (auto near = nearest_variable(name); !near.empty())
        message += "; did you mean " + near + "?";
      loaded_.warnings.push_back(message);
    }
  }

  core::Result<LoadedConfig> finish() {
    if (problems_.empty())
      return std::move(loaded_);
    std::string message
        = "invalid configuration (" + std::to_string(problems_.size())
          + (problems_.size() == 1 ? " problem" : " problems") + "):";
    for (auto& p : problems_)
      message += "\n  " + p;
    return core::Error{core::ErrorCode::invalid_config, message};
  }

  LoadedConfig& loaded() {
    return loaded_;
  }

  void add_problem(std::string problem) {
    problems_.push_back(std::move(problem));
  }

 private:
  static bool known_variable(const std::string& name) {
    for (auto& s : ConfigSchema::instance().settings())
      if (s.env == name)
        return true;
    return false;
  }

  static std::string nearest_variable(const std::string& name) {
    std::vector<std::string> names;
    for (auto& s : ConfigSchema::instance().settings())
      names.push_back(s.env);
    return core::closest_match(name, names);
  }

  const Environment& env_;
  LoadedConfig loaded_;
  std::vector<std::string> problems_;
};

core::Result<LoadedConfig> assemble(std::string_view toml_text,
                                    const std::string& source,
                                    const Environment& env) {
  Assembler assembler{env};
  if (!toml_text.empty()) {
    try {
      auto table = toml::parse(toml_text, source);
      assembler.apply_table(table, "", source);
    } catch (const toml::parse_error& err) {
      auto& begin = err.source().begin;
      return core::Error{core::ErrorCode::invalid_config,
                         "cannot parse " + source + ":"
                             + std::to_string(begin.line) + ":"
                             + std::to_string(begin.column) + ": "
                             + std::string{err.description()}};
    }
  }
  assembler.apply_environment();
  return assembler.finish();
}

} // namespace

Environment ConfigLoader::process_environment() {
  Environment env;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text{*entry};
    auto eq = text.find('=');
    if (eq != std::string_view::npos)
      env.emplace(text.substr(0, eq), text.substr(eq + 1));
  }
  return env;
}

core::Result<LoadedConfig>
ConfigLoader::load(const std::optional<std::filesystem::path>& file,
                   const Environment& env) {
  auto path = file;
  std::string named_by = "--config";
  if (!path) {
    auto it = env.find(std::string{kConfigPathVariable});
    if (it == env.end() || it->second.empty())
      return load_text("", "defaults", env);
    path = it->second;
    named_by = std::string{kConfigPathVariable};
  }
  std::ifstream in{*path};
  if (!in)
    return core::Error{core::ErrorCode::io_error,
                       "cannot read configuration file '" + path->string()
                           + "' (named by " + named_by
                           + "): " + std::strerror(errno)};
  std::stringstream text;
  text << in.rdbuf();
  auto result = assemble(text.str(), path->string(), env);
  if (result)
    result->file = *path;
  return result;
}

core::Result<LoadedConfig> ConfigLoader::load_text(std::string_view toml,
                                                   const std::string& source,
                                                   const Environment& env) {
  return assemble(toml, source, env);
}

std::string ConfigLoader::render_toml(const LoadedConfig& loaded) {
  std::ostringstream out;
  out << "# Effective configuration"
      << (loaded.file ? " (file: " + loaded.file->string() + ")" : "") << "\n";
  std::string section = "-";
  for (auto& s : ConfigSchema::instance().settings()) {
    auto dot = s.key.rfind('.');
    auto key_section
        = dot == std::string::npos ? std::string{} : s.key.substr(0, dot);
    if (key_section != section) {
      section = key_section;
      if (!section.empty())
        out << "\n[" << section << "]\n";
    }
    auto name = s.key.substr(section.empty() ? 0 : section.size() + 1);
    auto origin = loaded.origins.count(s.key) ? loaded.origins.at(s.key)
                                              : std::string{"default"};
    auto value = s.show(loaded.config);
    // A secret is shown as set or not, never as itself.
    if (name == "api_key" && value != "\"\"")
      value = "\"(set)\"";
    out << name << " = " << value << "  # " << origin << "\n";
  }
  return out.str();
}

} // namespace tasker::config
